"""One app's desired state at one revision: its rendered objects, marked for tracking."""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.apply.inventory import mark
from sandbox.manifest.ignore import IgnoreRule, pointers_for
from sandbox.model import DesiredObject, Manifest, ObjectKey, Problem, Rendered

FIRST_STAGE = ("Namespace", "CustomResourceDefinition")


@dataclass(frozen=True)
class DesiredSet:
    """What Git wants of one app at one revision; immutable once built."""

    rendered: Rendered
    objects: dict[ObjectKey, DesiredObject] = field(default_factory=dict)
    marked: dict[ObjectKey, Manifest] = field(default_factory=dict)  # with the app's label and annotation
    ignored: dict[ObjectKey, tuple[str, ...]] = field(default_factory=dict)  # fields never compared

    @classmethod
    def of(cls, rendered: Rendered, ignore: tuple[IgnoreRule, ...] = ()) -> DesiredSet:
        objects = {o.key: o for o in rendered.objects}
        marked = {o.key: mark(o.manifest, rendered.app, o.key) for o in rendered.objects}
        ignored = {key: found for key in objects if (found := pointers_for(key, ignore))}
        return cls(rendered, objects, marked, ignored)

    @property
    def app(self) -> str:
        return self.rendered.app

    @property
    def revision(self) -> str:
        return self.rendered.revision

    @property
    def ok(self) -> bool:
        return self.rendered.ok

    @property
    def problems(self) -> tuple[Problem, ...]:
        return self.rendered.problems

    def namespaces(self) -> set[str]:
        """The namespaces the app's own Namespace objects create."""
        return {key.name for key in self.objects if key.kind == "Namespace" and not key.group}

    def crd_kinds(self) -> set[tuple[str, str]]:
        """(group, kind) of every custom resource kind the app's own CRDs define."""
        kinds = set()
        for obj in self.objects.values():
            if obj.key.kind == "CustomResourceDefinition":
                spec = obj.manifest.get("spec") or {}
                names = spec.get("names") or {}
                kinds.add((str(spec.get("group", "")), str(names.get("kind", ""))))
        return kinds
