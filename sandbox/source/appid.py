"""Which app is which: an app is its defining object's kind, namespace and name.

An Argo CD ``Application`` and a Flux ``Kustomization`` or ``HelmRelease`` of one name are three
apps; so are two Kustomizations of one name in two namespaces. Each app has an **id** that
never depends on the other apps (its history, inventory and labels must not move when someone
adds a namesake): the plain name for a ``sandbox.yaml`` or folder app and for the usual home of
each controller's own app kind (an Application in ``argocd``, a Kustomization in
``flux-system``), else the **qualified** name ``Kind/namespace/name``. People see the short
name wherever it is unique among the apps shown, and the qualified one where it is not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Where each controller keeps the app objects it owns: there an app is known by its name alone.
HOMES = {"Application": ("", "argocd"), "Kustomization": ("", "flux-system")}


@dataclass(frozen=True)
class AppName:
    """The names of one app: its id, and the object that defines it (kind "" for sandbox.yaml)."""

    id: str
    kind: str = ""
    namespace: str = ""
    name: str = ""

    @classmethod
    def of(cls, kind: str, namespace: str, name: str) -> AppName:
        return cls(app_id(kind, namespace, name), kind, namespace, name)

    @classmethod
    def from_id(cls, text: str) -> AppName:
        """The names an id alone says: a qualified id names its object; a plain one only itself."""
        kind, namespace, name = (text.split("/") + ["", "", ""])[:3] if text.count("/") == 2 else ("", "", "")
        return cls(text, kind, namespace, name) if name else cls(text)

    @property
    def short(self) -> str:
        return self.name or self.id

    @property
    def qualified(self) -> str:
        return qualified(self.kind, self.namespace, self.short)

    def answers_to(self, text: str) -> bool:
        """Whether ``text`` names this app: its id, short or qualified name, ``namespace/name``,
        or ``Kind/name`` (a kind in any case, as kubectl takes it)."""
        if text in (self.id, self.short, self.qualified):
            return True
        first, _, rest = text.partition("/")
        if not rest or "/" in rest or rest != self.short:
            return False
        return first == self.namespace or (bool(self.kind) and first.lower() == self.kind.lower())


def app_id(kind: str, namespace: str, name: str) -> str:
    if not kind or namespace in HOMES.get(kind, ()):
        return name
    return qualified(kind, namespace, name)


def qualified(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}" if kind else name


def shown_names(names: Iterable[AppName]) -> dict[str, str]:
    """app id -> what to show: the short name where no other app has it, else the qualified one."""
    listed = list(names)
    count = Counter(n.short for n in listed)
    return {n.id: n.short if count[n.short] == 1 else n.qualified for n in listed}


def pick(names: Sequence[AppName], text: str) -> list[AppName]:
    """Every app ``text`` could name, as a person typed it: a short name two apps share names
    both (so the person is asked which), and a qualified name names its one app."""
    found = [n for n in names if n.answers_to(text)]
    exact = [n for n in found if text == n.qualified]
    return exact if len(found) > 1 and exact else found
