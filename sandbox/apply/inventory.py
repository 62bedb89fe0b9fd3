"""Tracking and inventory: how the sandbox knows which live objects an app owns.

Every applied object carries a label naming its app (cheap to watch) and an annotation with
a tracking id (app plus object key), which a copied label cannot forge by accident. The
inventory per app, a ConfigMap in the sandbox's own namespace, lists what the app applied
and at which revision, so prune is exact even after a restart. Prune deletes only what the
inventory AND the annotation both claim.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sandbox.kube.client import Kube, KubeError
from sandbox.model import SYSTEM_NAMESPACE, Manifest, ObjectKey

APP_LABEL = "gitops-sandbox.io/app"
TRACKING_ANNOTATION = "gitops-sandbox.io/tracking-id"
INVENTORY_PREFIX = "inventory-"


_STORABLE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")


def storage_name(app: str) -> str:
    """The app's name where the cluster stores it: its label value and its inventory's name
    (a DNS-1123 label, at most 63). A plain app id is itself; a qualified one
    (``HelmRelease/podinfo/podinfo``) is lowered, dotted and made unique by a digest of it."""
    if _STORABLE.match(app):
        return app
    digest = hashlib.sha256(app.encode()).hexdigest()[:8]
    base = re.sub(r"[^-a-z0-9.]", "-", app.lower().replace("/", "."))[:54].strip("-.")
    return f"{base}-{digest}"


def tracking_id(app: str, key: ObjectKey) -> str:
    """The app id, then the object: app ids hold no colon, so the first one ends the app."""
    return f"{app}:{key.group}/{key.kind}:{key.namespace}/{key.name}"


def mark(manifest: Manifest, app: str, key: ObjectKey) -> Manifest:
    """A copy of the desired manifest carrying the app's label and tracking annotation."""
    out = dict(manifest)
    meta = dict(out.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), APP_LABEL: storage_name(app)}
    meta["annotations"] = {**(meta.get("annotations") or {}), TRACKING_ANNOTATION: tracking_id(app, key)}
    out["metadata"] = meta
    return out


def unmarked(manifest: Manifest | None) -> Manifest | None:
    """A copy without the sandbox's label and tracking annotation (whoever's they are)."""
    if manifest is None:
        return None
    meta = dict(manifest.get("metadata") or {})
    for part, key in (("labels", APP_LABEL), ("annotations", TRACKING_ANNOTATION)):
        values = {k: v for k, v in (meta.get(part) or {}).items() if k != key}
        if values:
            meta[part] = values
        else:
            meta.pop(part, None)
    return {**manifest, "metadata": meta}


def claimed_by(live: Manifest | None, app: str, key: ObjectKey) -> bool:
    """Whether a live object carries this app's tracking annotation for this very key."""
    if live is None:
        return False
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    return annotations.get(TRACKING_ANNOTATION) == tracking_id(app, key)


def tracking_app(live: Manifest | None) -> str | None:
    """The app a live object's tracking annotation names (app names hold no colon)."""
    if live is None:
        return None
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    found = annotations.get(TRACKING_ANNOTATION)
    return found.split(":", 1)[0] if isinstance(found, str) and ":" in found else None


@dataclass(frozen=True)
class Claim:
    """Who owns an object: the app that applied it first, and the file it came from there."""

    app: str
    source: str = ""


def claim_of(live: Manifest | None) -> Claim | None:
    """The owner a live object's annotation names (without the file: the annotation has none)."""
    app = tracking_app(live)
    return Claim(app) if app else None


def conflict(claim: Claim, app: str, source: str) -> str:
    """What to say of an object ``app`` renders from ``source`` though ``claim`` owns it."""
    where = f" ({claim.source})" if claim.source else ""
    return (
        f"belongs to app {claim.app}{where}; app {app} renders it too ({source}): not applied from {app}. "
        "Keep it in one app only"
    )


@dataclass(frozen=True)
class Entry:
    key: ObjectKey
    api_version: str

    def to_json(self) -> list[str]:
        return [self.api_version, self.key.kind, self.key.namespace, self.key.name]

    @classmethod
    def from_json(cls, row: list[str]) -> Entry:
        api_version, kind, namespace, name = row
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        return cls(ObjectKey(group, kind, namespace, name), api_version)


@dataclass(frozen=True)
class Inventory:
    app: str
    revision: str
    entries: tuple[Entry, ...]
    extra: dict[str, str] = field(default_factory=dict)  # who wrote it: env repo, app path, prune

    def keys(self) -> set[ObjectKey]:
        return {e.key for e in self.entries}


def owning_repo(inventory: Inventory | None, ours: Mapping[str, str]) -> str | None:
    """The env repo (a folder on this machine) that owns an inventory, when it is not ours
    (``ours``: our inventory extra, ``repo`` and ``gitDir``) and still exists; None when the app
    is this repo's to drive (or its owner is gone: a moved or deleted repo hands its apps over).
    A repository is known by its common git dir, so a worktree of it is the same repo."""
    extra = inventory.extra if inventory is not None else {}
    owner, repo = extra.get("repo"), ours.get("repo")
    if not owner or not repo or owner == repo or not Path(owner).exists():
        return None
    if extra.get("gitDir") and extra.get("gitDir") == ours.get("gitDir"):
        return None
    return owner


class _Getter(Protocol):
    def get(self, path: str, params: dict[str, str] | None = None) -> Any: ...


def _path(app: str = "") -> str:
    base = f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/configmaps"
    return f"{base}/{INVENTORY_PREFIX}{storage_name(app)}" if app else base


class InventoryReader:
    """Reads inventories (ConfigMaps in the sandbox's namespace); observers have only this."""

    def __init__(self, client: _Getter) -> None:
        self.client = client

    def load(self, app: str) -> Inventory | None:
        try:
            cm = self.client.get(_path(app))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return _inventory(cm)

    def all(self) -> list[Inventory]:
        """Every app's inventory in the cluster, by app name."""
        try:
            found = self.client.get(_path(), {"labelSelector": "gitops-sandbox.io/inventory=true"})
        except KubeError as exc:
            if exc.status == 404:
                return []
            raise
        return sorted((_inventory(i) for i in found.get("items", [])), key=lambda i: i.app)


class InventoryStore(InventoryReader):
    """Reads and writes inventories."""

    def __init__(self, kube: Kube) -> None:
        super().__init__(kube)
        self.kube = kube
        self._namespace_ready = False

    def forget_cluster(self) -> None:
        self._namespace_ready = False

    def _ensure_namespace(self) -> None:
        if self._namespace_ready:
            return
        self.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}})
        self._namespace_ready = True

    def save(self, inventory: Inventory, extra: dict[str, str] | None = None) -> None:
        self._ensure_namespace()
        rows = sorted((e.to_json() for e in inventory.entries), key=lambda r: (r[1], r[2], r[3]))
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": INVENTORY_PREFIX + storage_name(inventory.app),
                "namespace": SYSTEM_NAMESPACE,
                "labels": {
                    "app.kubernetes.io/managed-by": "gitops-sandbox",
                    "gitops-sandbox.io/inventory": "true",
                },
            },
            "data": {
                **inventory.extra, **(extra or {}),
                "app": inventory.app, "revision": inventory.revision, "entries": json.dumps(rows),
            },
        }  # fmt: skip
        self.kube.apply(body)

    def rebuild(self, app: str, kube: Kube) -> Inventory | None:
        """The app's inventory as its live objects tell it: every object of any listable kind
        that carries its label and its tracking annotation (a lost inventory, found again)."""
        entries = []
        selector = {"labelSelector": f"{APP_LABEL}={storage_name(app)}"}
        for resource in kube.resources().values():
            if "list" not in resource.verbs or "/" in resource.plural:
                continue
            try:
                found = kube.get(resource.path(), selector)
            except KubeError:
                continue  # a kind that cannot be listed (an aggregated API gone): nothing of ours there
            for item in found.get("items") or ():
                item.setdefault("apiVersion", resource.api_version)
                item.setdefault("kind", resource.kind)
                key = ObjectKey.of(item)
                if claimed_by(item, app, key):
                    entries.append(Entry(key, resource.api_version))
        return Inventory(app, "", tuple(entries)) if entries else None

    def delete(self, app: str) -> None:
        try:
            self.kube.request("DELETE", _path(app))
        except KubeError as exc:
            if exc.status != 404:
                raise


def _inventory(cm: Manifest) -> Inventory:
    data = dict(cm.get("data") or {})
    rows = json.loads(data.pop("entries", "[]"))
    app, revision = data.pop("app", ""), data.pop("revision", "")
    return Inventory(app, revision, tuple(Entry.from_json(r) for r in rows), data)
