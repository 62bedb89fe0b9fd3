"""A real Docker daemon of the tests' own: dockerd from Debian's docker.io, on a private socket
and data root, without networking of its own (no bridge, no iptables), stopped at the end.

The rest of the suite never sees it (only tests that take the fixture get its DOCKER_HOST),
so `--runtime auto` elsewhere behaves as on a machine without Docker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def on_ci() -> bool:
    """A CI run (CI=true, as GitHub Actions, GitLab and .ci/run set it)."""
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


class NoDaemon(Exception):
    """Why no Docker daemon can run here (the tests skip with it)."""


@contextmanager
def docker_daemon(root: Path) -> Iterator[str]:
    """Start dockerd under ``root``; yield its DOCKER_HOST."""
    dockerd = shutil.which("dockerd") or ("/usr/sbin/dockerd" if Path("/usr/sbin/dockerd").exists() else None)
    if dockerd is None:
        raise NoDaemon("dockerd is not installed (Debian: apt-get install docker.io; .ci/run installs it)")
    if os.geteuid() != 0:
        raise NoDaemon("dockerd needs root here, and the tests do not run as root")
    root.mkdir(parents=True, exist_ok=True)
    socket = root / "docker.sock"
    host = f"unix://{socket}"
    log = (root / "dockerd.log").open("w")
    proc = subprocess.Popen(
        [dockerd, "--host", host, "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "dockerd.pid"), "--bridge", "none", "--iptables=false", "--ip6tables=false"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        import docker

        deadline = time.monotonic() + 30
        while True:
            try:
                docker.DockerClient(base_url=host, timeout=2).ping()
                break
            except Exception as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (root / "dockerd.log").read_text(errors="replace").splitlines()[-3:]
                    raise NoDaemon(f"dockerd did not start ({exc}): {' | '.join(tail)}") from None
                time.sleep(0.2)
        yield host
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
