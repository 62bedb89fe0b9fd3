"""Kubernetes names: the DNS-1123 label rule namespaces and most names follow."""

from __future__ import annotations

import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def dns1123_name(text: str) -> str:
    """``text`` made into a DNS-1123 label ("" when nothing usable is left)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    name = re.sub(r"-{2,}", "-", name).strip("-")
    return name[:63].rstrip("-")
