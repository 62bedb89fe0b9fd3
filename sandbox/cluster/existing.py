"""The existing runtime: a cluster the user already has, used only when they name its context.

The sandbox reads the user's kubeconfig for that one context and never writes to it. ``up``
records the choice under our state directory so ``status`` and the agent can find it again;
``down`` forgets the choice and leaves the cluster itself alone (we did not create it).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from sandbox.cluster import probe
from sandbox.cluster.runtime import ClusterError, ClusterStatus, Progress
from sandbox.kube import kubeconfig as kc
from sandbox.paths import private_dir, state_dir


def default_user_kubeconfig() -> Path:
    """Where kubectl would look: the first file of $KUBECONFIG, else ~/.kube/config."""
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0]).expanduser()
    return Path.home() / ".kube" / "config"


class ExistingRuntime:
    """A user-named context in a user-named (or kubectl's default) kubeconfig."""

    name = "existing"

    def __init__(
        self, context: str | None = None, kubeconfig: Path | None = None, root: Path | None = None
    ) -> None:
        self.root = root or state_dir() / "existing"
        saved = self._saved()
        self._context = context or saved.get("context")
        self._kubeconfig = kubeconfig or (Path(saved["kubeconfig"]) if "kubeconfig" in saved else None)

    def _saved(self) -> dict[str, str]:
        try:
            return json.loads((self.root / "target.json").read_text())
        except (OSError, ValueError):
            return {}

    @property
    def kubeconfig_path(self) -> Path:
        return self._kubeconfig or default_user_kubeconfig()

    @property
    def context(self) -> str | None:
        return self._context

    def _require_context(self) -> str:
        if not self._context:
            raise ClusterError(
                "the existing runtime needs the context named explicitly: "
                "--runtime existing --context NAME [--kubeconfig PATH]"
            )
        if not self.kubeconfig_path.exists():
            raise ClusterError(f"kubeconfig {self.kubeconfig_path} does not exist")
        if self._context not in kc.contexts_in(self.kubeconfig_path):
            raise ClusterError(f"context {self._context!r} is not in {self.kubeconfig_path}")
        return self._context

    def status(self) -> ClusterStatus:
        if not self._context:
            return ClusterStatus(self.name, "", "absent", detail="no context named")
        return probe.probed_status(
            self.name, self._context, self.kubeconfig_path, self._context, down_state="unreachable", timeout=5
        )

    def up(self, progress: Progress) -> ClusterStatus:
        context = self._require_context()
        status = self.status()
        if not status.running:
            raise ClusterError(f"context {context} in {self.kubeconfig_path} is unreachable: {status.detail}")
        private_dir(self.root)
        target = {"context": context, "kubeconfig": str(self.kubeconfig_path)}
        (self.root / "target.json").write_text(json.dumps(target))
        progress(f"using existing cluster: context {context} in {self.kubeconfig_path}")
        return status

    def down(self, progress: Progress) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        progress("forgot the existing cluster; the cluster itself was not touched")
