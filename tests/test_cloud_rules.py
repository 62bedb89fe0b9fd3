"""The local runtime's cloud, its rules without a cluster: which claims get a volume and what
volume, which volumes go, and which objects get which address."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.cluster.cloud import addresses, volumes

CLAIM: dict[str, Any] = yaml.safe_load((Path(__file__).parent / "cloud" / "claim.yaml").read_text())


def _with(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node = changed
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return changed


def test_a_pending_claim_of_the_sandbox_class_gets_a_volume_bound_to_it_of_its_size(tmp_path: Path) -> None:
    assert volumes.wants_volume(CLAIM)
    volume = volumes.volume_for(CLAIM, tmp_path / "pvc-x")

    assert volume["metadata"]["name"] == "pvc-0b1d6f2e-5c3a-4f7e-9d21-7a8b9c0d1e2f"
    assert volume["spec"]["capacity"] == {"storage": "2Gi"}
    assert volume["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert volume["spec"]["claimRef"] == {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "ledger", "name": "data-ledger-0",
        "uid": "0b1d6f2e-5c3a-4f7e-9d21-7a8b9c0d1e2f",
    }  # fmt: skip
    assert volume["spec"]["hostPath"]["path"] == str(tmp_path / "pvc-x")
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Delete"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.storageClassName", "fast-ssd"),  # another provisioner's class
        ("spec.storageClassName", None),  # no class yet: the default is set on it first
        ("spec.volumeName", "pv-by-hand"),  # bound by hand
        ("status.phase", "Bound"),
        ("metadata.deletionTimestamp", "2026-12-02T00:00:00Z"),
        ("spec.dataSource", {"kind": "VolumeSnapshot", "name": "s"}),
    ],
)
def test_claims_the_sandbox_class_does_not_serve_get_no_volume(path: str, value: Any) -> None:
    assert not volumes.wants_volume(_with(CLAIM, path, value))


def test_only_a_released_volume_this_provisioner_made_is_deleted_and_only_its_own_folder(
    tmp_path: Path,
) -> None:
    root = tmp_path / "volumes"
    volume = volumes.volume_for(CLAIM, volumes.make_folder(root, volumes.volume_name(CLAIM)))
    released = _with(volume, "status.phase", "Released")
    assert volumes.released(released)
    assert not volumes.released(_with(volume, "status.phase", "Bound"))
    assert not volumes.released(_with(released, "spec.persistentVolumeReclaimPolicy", "Retain"))
    assert not volumes.released(_with(released, "metadata.annotations", {}))

    outside = tmp_path / "precious"
    outside.mkdir()
    volumes.remove_folder(_with(released, "spec.hostPath", {"path": str(outside)}), root)
    assert outside.is_dir(), "a folder outside the volumes root is never removed"
    volumes.remove_folder(released, root)
    assert not (root / volumes.volume_name(CLAIM)).exists()


def test_load_balancer_services_and_ingresses_without_an_address_need_one() -> None:
    service = {"kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "LoadBalancer"}}
    assert addresses.needs_address(service)
    assert addresses.needs_address({"kind": "Ingress", "metadata": {"name": "i"}, "spec": {}})
    assert not addresses.needs_address(_with(service, "spec.type", "ClusterIP"))
    assert not addresses.needs_address({**service, **addresses.status_patch("203.0.113.9")})


def test_addresses_come_from_the_documentation_range_and_are_never_shared_by_two_services() -> None:
    first = addresses.next_free([])
    second = addresses.next_free([first])
    assert addresses.INGRESS_ADDRESS == "203.0.113.1"
    assert (first, second) == ("203.0.113.2", "203.0.113.3")
    assert addresses.next_free(["203.0.113.2"]) == "203.0.113.3"
    assert addresses.next_free([first, second, "203.0.113.5"]) == "203.0.113.4"
