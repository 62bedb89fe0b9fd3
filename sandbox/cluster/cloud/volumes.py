"""Dynamic provisioning of local volumes, as an external provisioner does it: a claim of the
sandbox's StorageClass gets a folder and a PersistentVolume bound to it; a released volume of
that class loses both.

The folders live under the cluster's state directory, so ``cluster down`` removes them with the
cluster; kube-controller-manager's own host-path provisioner would put them in /tmp/hostpath_pv,
shared by every cluster on the machine and left behind by a delete.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sandbox.manifest.shape import mapping
from sandbox.model import Manifest

PROVISIONER = "gitops-sandbox.io/local-volume"
STORAGE_CLASS = "standard"  # kind's default class name, so manifests written for kind just work
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"


def storage_class() -> Manifest:
    """The default StorageClass: claims that name no class get it too."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": True,
    }


def wants_volume(claim: Manifest) -> bool:
    """A claim of this class that nothing is bound to yet."""
    spec, meta = mapping(claim.get("spec")), mapping(claim.get("metadata"))
    return (
        spec.get("storageClassName") == STORAGE_CLASS
        and not spec.get("volumeName")
        and mapping(claim.get("status")).get("phase", "Pending") == "Pending"
        and not meta.get("deletionTimestamp")
        and not spec.get("dataSource")  # clones and snapshots are not local folders
    )


def volume_name(claim: Manifest) -> str:
    return f"pvc-{mapping(claim.get('metadata')).get('uid', '')}"


def volume_for(claim: Manifest, folder: Path) -> Manifest:
    """The PersistentVolume that binds ``claim`` to ``folder``."""
    meta, spec = mapping(claim.get("metadata")), mapping(claim.get("spec"))
    size = mapping(mapping(spec.get("resources")).get("requests")).get("storage", "1Gi")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": volume_name(claim), "annotations": {PROVISIONED_BY: PROVISIONER}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": STORAGE_CLASS,
            "hostPath": {"path": str(folder), "type": "DirectoryOrCreate"},
            "claimRef": {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "namespace": meta.get("namespace"), "name": meta.get("name"), "uid": meta.get("uid"),
            },
        },
    }  # fmt: skip


def released(volume: Manifest) -> bool:
    """A volume this provisioner made whose claim is gone, to delete as its policy says."""
    meta, spec = mapping(volume.get("metadata")), mapping(volume.get("spec"))
    return (
        mapping(meta.get("annotations")).get(PROVISIONED_BY) == PROVISIONER
        and spec.get("persistentVolumeReclaimPolicy") == "Delete"
        and mapping(volume.get("status")).get("phase") in ("Released", "Failed")
    )


def remove_folder(volume: Manifest, root: Path) -> None:
    """Delete a volume's folder, only ever one under ``root`` (a PV is user-editable)."""
    path = Path(str(mapping(mapping(volume.get("spec")).get("hostPath")).get("path", ""))).resolve()
    if path.parent == root.resolve() and path.name == mapping(volume.get("metadata")).get("name"):
        shutil.rmtree(path, ignore_errors=True)


def make_folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


__all__ = ["storage_class", "wants_volume", "volume_for", "released", "remove_folder", "make_folder"]
