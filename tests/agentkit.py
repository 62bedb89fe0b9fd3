"""Helpers for tests that drive a real agent against the session's local cluster.

Each test gets its own env repo (a real git repository) and its own app names and
namespaces, so tests never see each other's objects.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from gitkit import git

from sandbox.agent.history import History
from sandbox.agent.loop import Agent
from sandbox.agent.snapshot import AppState, Snapshot
from sandbox.kube.client import Kube, KubeError

T = TypeVar("T")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def write(repo: Path, files: dict[str, str | None]) -> None:
    """Write (or, with None, delete) files in the working tree."""
    for rel, text in files.items():
        path = repo / rel
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def commit(repo: Path, message: str, files: dict[str, str | None] | None = None) -> str:
    if files:
        write(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def new_repo(path: Path, files: dict[str, str | None] | None = None, message: str = "first deploy") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    if files is not None:
        commit(path, message, files)
    return path


def configmap(name: str, data: dict[str, str], namespace: str | None = None) -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    lines = "".join(f"\n  {k}: {v!r}" for k, v in data.items())
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}{ns}\ndata:{lines}\n"


def deployment(name: str, replicas: int = 1, image: str = "nginx:1.27-alpine") -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: main, image: "{image}"}}]
"""


def wait_for(check: Callable[[], T], timeout: float = 20, interval: float = 0.05, what: str = "") -> T:
    """Poll until ``check`` returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}; last: {last!r}")


def app_state(agent: Agent, name: str) -> AppState | None:
    return agent.publish_now().app(name)


def read(kube: Kube, path: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = kube.get(path)
        return found
    except KubeError as exc:
        if exc.status == 404:
            return None
        raise


def cm_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/{name}"


@contextmanager
def running(repo: Path, kube: Kube, tmp_path: Path, **kwargs: Any) -> Iterator[Agent]:
    history = History(tmp_path / f"history-{uuid.uuid4().hex[:4]}.sqlite")
    agent = Agent(repo, kube, history=history, settings_path=tmp_path / "settings.json", **kwargs)
    agent.start(watch_repo=True)
    try:
        assert agent.wait_idle(60)
        yield agent
    finally:
        agent.stop()
        history.close()


def last_errors(snapshot: Snapshot) -> list[str]:
    return [e.message for e in snapshot.events if e.level == "error"]
