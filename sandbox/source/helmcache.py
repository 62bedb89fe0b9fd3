"""Charts from Helm or OCI repositories, read offline: from Helm's own cache, where `helm pull`
puts them, and the `helm pull` line that puts one there where the internet is."""

from __future__ import annotations

import os
from pathlib import Path

from sandbox.source import chartversion


def helm_cache_chart(chart: str, version: str) -> Path | None:
    """The newest ``<chart>-<version>.tgz`` in the Helm cache (``$HELM_CACHE_HOME``, else the XDG
    cache) whose version meets ``version``, a semver constraint (empty: any)."""
    home = os.environ.get("HELM_CACHE_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "helm"
    )
    packed = {
        f.name[len(chart) + 1 : -len(".tgz")]: f for f in (Path(home) / "repository").glob(f"{chart}-*.tgz")
    }
    chosen = chartversion.newest(packed, version)
    return packed[chosen] if chosen is not None else None


def pull_reference(chart: str, url: str) -> str:
    """What `helm pull` takes for a chart of a repository: an OCI chart by its full reference
    (--repo is for HTTP repositories only), else the chart's name and --repo."""
    if url.startswith("oci://"):
        return f"{url.rstrip('/')}/{chart}"
    if url and "://" not in url:  # Argo CD names an OCI Helm repository without a scheme
        return f"oci://{url.rstrip('/')}/{chart}"
    return f"{chart} --repo {url or 'URL'}"


def pull_line(pull: str, version: str) -> str:
    """The command that puts a chart where the sandbox reads it."""
    asked = f" --version '{version}'" if version else ""
    return f'helm pull {pull}{asked} -d "$(helm env HELM_REPOSITORY_CACHE)"'
