"""A loopback release mirror: the binaries this machine built, laid out as their projects'
release sites lay out theirs (dl.k8s.io, GitHub release downloads and API, get.helm.sh), with
the checksum files each publishes, served over HTTP on 127.0.0.1 for GITOPS_SANDBOX_RELEASE_MIRROR.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sandbox.tools import releases, toolchain


def _put(root: Path, url: str, data: bytes) -> None:
    parts = urlsplit(url)
    path = root / parts.netloc / unquote(parts.path).lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _tarball(member: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo(member)
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def lay_out(root: Path, built: dict[str, Path], tamper: frozenset[str] = frozenset()) -> dict[str, bytes]:
    """Publish each built binary under ``root`` as its tool's release; a tool in ``tamper`` is
    served changed by one byte after its checksum was published. Returns the binaries."""
    binaries: dict[str, bytes] = {}
    lists: dict[str, list[str]] = {}
    apis: dict[str, list[dict[str, str]]] = {}
    for tool, path in built.items():
        group = toolchain.TOOL_GROUP[tool]
        release = releases.release_of(tool, group.version)
        assert release is not None, tool
        binary = path.read_bytes()
        binaries[tool] = binary
        asset = _tarball(release.member, binary) if release.member else binary
        digest = hashlib.sha256(asset).hexdigest()
        name = release.url.rsplit("/", 1)[-1]
        if release.checksum is releases.Checksum.BESIDE:
            _put(root, release.checksum_url, f"{digest}  {name}\n".encode() if "sha256sum" in release.checksum_url
                 else digest.encode())  # fmt: skip
        elif release.checksum is releases.Checksum.LIST:
            lists.setdefault(release.checksum_url, []).append(f"{digest}  {name}")
        else:
            apis.setdefault(release.checksum_url, []).append({"name": name, "digest": f"sha256:{digest}"})
        _put(root, release.url, asset[:-1] + bytes([asset[-1] ^ 1]) if tool in tamper else asset)
    for url, lines in lists.items():
        _put(root, url, ("\n".join(lines) + "\n").encode())
    for url, assets in apis.items():
        _put(root, url, json.dumps({"assets": assets}).encode())
    return binaries


class _Quiet(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format: str, *args: object) -> None:
        type(self).requests.append(self.path)


@contextmanager
def serving(root: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve ``root`` on a loopback port; yield the mirror URL and the paths requested."""
    seen: list[str] = []
    handler = type("Handler", (_Quiet,), {"requests": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
