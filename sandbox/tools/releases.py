"""Official release binaries, fetched and verified against the SHA-256 their project publishes,
as kwokctl and setup-envtest fetch theirs: seconds on a laptop with internet, where building
from source takes minutes.

Each tool has one release asset (a binary, or a tarball holding it) and one published
checksum: a ``.sha256``/``.sha256sum`` file beside the asset, a ``SHA256SUMS``/``checksums.txt``
for the release, or, for projects that publish no checksum file (kwok, metrics-server), the
digest GitHub's release API gives each asset. A download whose SHA-256 differs is refused and
deleted, never used. ``GITOPS_SANDBOX_RELEASE_MIRROR`` serves the same layout from elsewhere:
``<mirror>/<host>/<path>`` for ``https://<host>/<path>``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

MIRROR_ENV = "GITOPS_SANDBOX_RELEASE_MIRROR"
PROBE_SECONDS = 3.0  # how long a first request may take before the sandbox builds instead
DOWNLOAD_SECONDS = 300.0

Progress = Callable[[str], None]


class ReleaseError(RuntimeError):
    """A release could not be had; ``refused`` when it was had and did not verify."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class Checksum(StrEnum):
    BESIDE = "beside"  # <asset>.sha256 or .sha256sum: the digest (and maybe the file name)
    LIST = "list"  # one file of "<digest>  <name>" lines for the whole release
    GITHUB = "github"  # GitHub's release API: each asset's "digest": "sha256:<hex>"


@dataclass(frozen=True)
class Release:
    """Where one tool's official build is and how its checksum is published."""

    url: str  # the asset
    checksum: Checksum
    checksum_url: str = ""  # BESIDE and LIST: the checksum file; GITHUB: the release API URL
    member: str = ""  # the binary's path inside a tarball ("" when the asset is the binary)


def arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def _github(repo: str, tag: str, asset: str) -> str:
    return f"https://github.com/{repo}/releases/download/{tag}/{asset}"


def _github_api(repo: str, tag: str) -> str:
    return f"https://api.github.com/repos/{repo}/releases/tags/{tag}"


def release_of(tool: str, version: str) -> Release | None:
    """The official release of ``tool`` at ``version`` for this machine, or None if it has none."""
    a = arch()
    v = version.lstrip("v")
    if tool in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"):
        url = f"https://dl.k8s.io/release/{version}/bin/linux/{a}/{tool}"
        return Release(url, Checksum.BESIDE, url + ".sha256")
    if tool == "etcd":
        name = f"etcd-{version}-linux-{a}"
        return Release(_github("etcd-io/etcd", version, f"{name}.tar.gz"), Checksum.LIST,
                       _github("etcd-io/etcd", version, "SHA256SUMS"), f"{name}/etcd")  # fmt: skip
    if tool in ("kwok", "kwokctl"):
        repo = "kubernetes-sigs/kwok"
        return Release(
            _github(repo, version, f"{tool}-linux-{a}"), Checksum.GITHUB, _github_api(repo, version)
        )
    if tool == "kind":
        url = _github("kubernetes-sigs/kind", version, f"kind-linux-{a}")
        return Release(url, Checksum.BESIDE, url + ".sha256sum")
    if tool == "helm":
        url = f"https://get.helm.sh/helm-{version}-linux-{a}.tar.gz"
        return Release(url, Checksum.BESIDE, url + ".sha256sum", f"linux-{a}/helm")
    if tool == "kustomize":
        tag = f"kustomize%2F{version}"
        return Release(_github("kubernetes-sigs/kustomize", tag, f"kustomize_{version}_linux_{a}.tar.gz"),
                       Checksum.LIST, _github("kubernetes-sigs/kustomize", tag, "checksums.txt"), "kustomize")  # fmt: skip
    if tool == "jsonnet":
        machine = {"amd64": "x86_64", "arm64": "arm64"}.get(a, a)
        return Release(_github("google/go-jsonnet", version, f"go-jsonnet_{v}_Linux_{machine}.tar.gz"),
                       Checksum.LIST, _github("google/go-jsonnet", version, "checksums.txt"), "jsonnet")  # fmt: skip
    if tool == "metrics-server":
        repo = "kubernetes-sigs/metrics-server"
        return Release(
            _github(repo, version, f"metrics-server-linux-{a}"), Checksum.GITHUB, _github_api(repo, version)
        )
    return None


def mirrored(url: str) -> str:
    """``url`` as the mirror serves it, when one is named."""
    mirror = os.environ.get(MIRROR_ENV, "").rstrip("/")
    if not mirror:
        return url
    parts = urlsplit(url)
    return f"{mirror}/{parts.netloc}{parts.path}"


def reachable(url: str, timeout: float = PROBE_SECONDS) -> bool:
    """Whether the release site answers at all, within ``timeout`` (any HTTP answer counts)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(mirrored(url), method="HEAD"), timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except (OSError, ValueError):
        return False


def _get(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(mirrored(url), timeout=timeout) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as err:
        raise ReleaseError(f"{url}: HTTP {err.code}") from None
    except (OSError, ValueError) as err:
        raise ReleaseError(f"{url}: {err}") from None


def published_sha256(release: Release, timeout: float = 30) -> str:
    """The SHA-256 the project publishes for the asset."""
    name = release.url.rsplit("/", 1)[-1]
    text = _get(release.checksum_url, timeout).decode(errors="replace")
    if release.checksum is Checksum.GITHUB:
        assets = json.loads(text).get("assets") or []
        digest = next((str(a.get("digest") or "") for a in assets if a.get("name") == name), "")
        found = digest.removeprefix("sha256:") if digest.startswith("sha256:") else ""
    elif release.checksum is Checksum.BESIDE:
        found = text.split()[0] if text.split() else ""
    else:
        found = next((line.split()[0] for line in text.splitlines()
                      if len(line.split()) == 2 and line.split()[1].lstrip("*") == name), "")  # fmt: skip
    if not re.fullmatch(r"[0-9a-f]{64}", found.lower()):
        raise ReleaseError(f"no SHA-256 for {name} in {release.checksum_url}")
    return found.lower()


def fetch(tool: str, release: Release, dest: Path, progress: Progress) -> None:
    """Download ``release``, verify it, and put the binary at ``dest`` (executable); nothing
    lands at ``dest`` unless the SHA-256 matches the published one."""
    started = time.monotonic()
    expected = published_sha256(release)
    data = _get(release.url, DOWNLOAD_SECONDS)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ReleaseError(
            f"{tool}: the download of {release.url} has SHA-256 {actual}, but the project publishes {expected}; "
            "refused and deleted (a corrupt or tampered download is never used)",
            refused=True,
        )
    binary = _member(data, release.member, release.url) if release.member else data
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=f".{tool}-", dir=dest.parent)
    with os.fdopen(fd, "wb") as out:
        out.write(binary)
    os.chmod(scratch, 0o755)
    os.replace(scratch, dest)  # whole or not at all
    progress(f"  {tool}: {len(data) / 1e6:.0f} MB from {urlsplit(mirrored(release.url)).netloc}, "
             f"SHA-256 verified, in {time.monotonic() - started:.1f}s")  # fmt: skip


def _member(archive: bytes, member: str, url: str) -> bytes:
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            extracted = tar.extractfile(member)
            if extracted is None:
                raise KeyError(member)
            return extracted.read()
    except (tarfile.TarError, KeyError) as err:
        raise ReleaseError(f"{url} holds no {member} ({err})") from None
