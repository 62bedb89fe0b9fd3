"""Addresses for LoadBalancer Services and Ingresses, as cloud-provider-kind and an ingress
controller would give them: from 203.0.113.0/24 (TEST-NET-3, RFC 5737, for documentation), so
no address can ever reach a real host. The first is the ingress controller's, shared by every
Ingress; each LoadBalancer Service gets the next free one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from sandbox.manifest.shape import mapping
from sandbox.model import Manifest

RANGE = ipaddress.ip_network("203.0.113.0/24")
INGRESS_ADDRESS = str(RANGE[1])


def needs_address(obj: Manifest) -> bool:
    """A LoadBalancer Service or an Ingress whose status has no address yet."""
    kind = obj.get("kind")
    if kind == "Service" and mapping(obj.get("spec")).get("type") != "LoadBalancer":
        return False
    if kind not in ("Service", "Ingress") or mapping(obj.get("metadata")).get("deletionTimestamp"):
        return False
    return not addresses_of(obj)


def addresses_of(obj: Manifest) -> list[str]:
    ingress = mapping(mapping(obj.get("status")).get("loadBalancer")).get("ingress") or []
    return [str(i.get("ip") or i.get("hostname")) for i in ingress if isinstance(i, dict)]


def next_free(used: Iterable[str]) -> str:
    """The lowest address of the range, after the ingress controller's, that no Service has."""
    taken = {*used, INGRESS_ADDRESS}
    for host in RANGE.hosts():
        if str(host) not in taken:
            return str(host)
    raise RuntimeError(f"every address of {RANGE} is taken")


def status_patch(address: str) -> Manifest:
    return {"status": {"loadBalancer": {"ingress": [{"ip": address}]}}}
