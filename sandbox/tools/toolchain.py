"""The binary toolchain: upstream programs found on PATH, named by env var, or built from Go.

Each tool belongs to a *group*, a small wrapper Go module kept in ``modules/<group>/``
that pins an upstream version. A missing tool is built with ``go build`` from the Go
module proxy into ``<cache>/toolchain/<group>-<version>/``, shared by every clone, test
run and CI job. A build goes to a temporary folder first and is renamed into place, so
an interrupted build never leaves a half-filled cache.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sandbox import locks
from sandbox.paths import cache_dir
from sandbox.tools import releases

Progress = Callable[[str], None]

MODULES_DIR = Path(__file__).parent / "modules"
GO_INSTALL_HINT = "install Go 1.22 or newer (https://go.dev/doc/install; Debian: apt-get install golang)"


class ToolchainError(RuntimeError):
    """A tool could not be found or built; the message says what to do."""


def _k8s_ldflags(version: str) -> list[str]:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return flags


@dataclass(frozen=True)
class ToolGroup:
    """One wrapper module and the commands it builds."""

    name: str
    version: str
    packages: dict[str, str]
    ldflags: list[str] = field(default_factory=lambda: ["-s", "-w"])
    module: str = ""  # the wrapper module's folder under modules/, when not the group's name
    # What the sandbox changes in the upstream build (see its wrapper module): such a group is
    # never downloaded, and its cache folder is named apart from an unchanged build's.
    patched: str = ""

    @property
    def module_dir(self) -> Path:
        return MODULES_DIR / (self.module or self.name)

    @property
    def cache_path(self) -> Path:
        suffix = f"+{self.patched}" if self.patched else ""
        return cache_dir() / "toolchain" / f"{self.name}-{self.version}{suffix}"


def _sources_digest(folder: Path) -> str:
    """A short digest of a module of the sandbox's own (its Go files, go.mod and go.sum)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.iterdir() if p.suffix in (".go", ".mod", ".sum")):
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:12]


KUBERNETES = ToolGroup(
    "kubernetes",
    "v1.36.3",
    {
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    },
    _k8s_ldflags("v1.36.3"),
)
ETCD = ToolGroup("etcd", "v3.6.8", {"etcd": "go.etcd.io/etcd/server/v3"})
# kwok's server, the simulated kubelet, authenticates nobody upstream: the sandbox builds it
# with its own connection listener, which serves only clients with the cluster CA's certificate.
KWOK = ToolGroup("kwok", "v0.8.0", {"kwok": "sigs.k8s.io/kwok/cmd/kwok"}, patched="client-auth")
KWOKCTL = ToolGroup("kwokctl", "v0.8.0", {"kwokctl": "sigs.k8s.io/kwok/cmd/kwokctl"}, module="kwok")
KIND = ToolGroup("kind", "v0.32.0", {"kind": "sigs.k8s.io/kind"})
HELM = ToolGroup(
    "helm",
    "v4.3.1",
    {"helm": "helm.sh/helm/v4/cmd/helm"},
    ["-s", "-w", "-X helm.sh/helm/v4/internal/version.version=v4.3.1"],
)
KUSTOMIZE = ToolGroup("kustomize", "v5.8.1", {"kustomize": "sigs.k8s.io/kustomize/kustomize/v5"})
# Jsonnet as Argo CD evaluates it (go-jsonnet is the implementation Argo CD links).
JSONNET = ToolGroup("jsonnet", "v0.22.0", {"jsonnet": "github.com/google/go-jsonnet/cmd/jsonnet"})

# The metrics.k8s.io API on the local runtime, scraping kwok's simulated kubelet metrics.
METRICS_SERVER = ToolGroup(
    "metrics-server",
    "v0.8.0",
    {"metrics-server": "sigs.k8s.io/metrics-server/cmd/metrics-server"},
    _k8s_ldflags("v0.8.0"),  # it reports its version through component-base, as Kubernetes does
)

# An OCI registry on loopback, for the tests that prove what the sandbox says about OCI charts.
REGISTRY = ToolGroup(
    "registry", "v3.1.2", {"registry": "github.com/distribution/distribution/v3/cmd/registry"}
)

# The sandbox's own command (modules/gotemplate): ApplicationSet Go templates rendered with
# text/template and Sprig, as Argo CD's ApplicationSet controller renders them. No release:
# always built.
GOTEMPLATE = ToolGroup(
    "gotemplate", "v1.0.0", {"gotemplate": "gitops-sandbox/toolchain/gotemplate"},
    patched=_sources_digest(MODULES_DIR / "gotemplate"),  # its cache folder changes with its code
)  # fmt: skip

GROUPS: tuple[ToolGroup, ...] = (
    KUBERNETES, ETCD, KWOK, KWOKCTL, KIND, HELM, KUSTOMIZE, JSONNET, METRICS_SERVER, REGISTRY, GOTEMPLATE,
)  # fmt: skip
TOOL_GROUP: dict[str, ToolGroup] = {tool: g for g in GROUPS for tool in g.packages}

# What the local runtime needs, in the order a first build makes them.
RENDER_TOOLS = ("kubectl", "helm")  # what renders run (kubectl's kustomize where no kustomize is found)
LOCAL_RUNTIME_TOOLS = (
    "etcd",
    "kwok",
    "kwokctl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "metrics-server",
)


def env_var(tool: str) -> str:
    """The variable that names a tool's binary explicitly, e.g. GITOPS_SANDBOX_KUBE_APISERVER."""
    return "GITOPS_SANDBOX_" + tool.upper().replace("-", "_")


@dataclass(frozen=True)
class Found:
    """Where a tool was found and how."""

    tool: str
    path: Path
    source: str  # "env", "PATH" or "cache"


def find(tool: str) -> Found | None:
    """Locate a tool without building it: env var, then the cache, then PATH."""
    explicit = os.environ.get(env_var(tool))
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ToolchainError(f"{env_var(tool)}={explicit} is not an executable file")
        return Found(tool, path, "env")
    # The pinned build wins over PATH once it exists: a kubectl on PATH may be far outside
    # the version skew kubectl supports against our API server.
    cached = TOOL_GROUP[tool].cache_path / tool
    if cached.is_file():
        return Found(tool, cached, "cache")
    on_path = shutil.which(tool)
    if on_path:
        return Found(tool, Path(on_path), "PATH")
    return None


def version_of(path: Path) -> str | None:
    """The version a binary reports, or None when it does not answer in time."""
    for args in (["--version"], ["version", "--client"], ["version"]):
        try:
            out = subprocess.run([str(path), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        text = out.stdout + out.stderr
        match = re.search(r"v?\d+\.\d+\.\d+[\w.+-]*", text)
        if out.returncode == 0 and match:
            return match.group(0)
    return None


def go_binary() -> str | None:
    return shutil.which("go")


BUILD_ENV = "GITOPS_SANDBOX_BUILD"  # "1": build from source, never download (`--build`)


def ensure(tool: str, progress: Progress = lambda _msg: None) -> Path:
    """The path of a tool: found, else downloaded from its official release and verified,
    else built with its group into the cache (no release site answers, or ``--build``)."""
    found = find(tool)
    if found:
        return found.path
    group = TOOL_GROUP[tool]
    if os.environ.get(BUILD_ENV) != "1" and not group.patched and _download(tool, group, progress):
        return group.cache_path / tool
    build_group(group, progress)
    return group.cache_path / tool


_site_answers: dict[str, bool] = {}  # per release site, asked once per process


def _download(tool: str, group: ToolGroup, progress: Progress) -> bool:
    """Fetch the tool's release into the cache; False when it has none or its site is silent.
    A download that fails its checksum is refused loudly (ToolchainError), never used."""
    release = releases.release_of(tool, group.version)
    if release is None:
        return False
    site = releases.mirrored(release.url).split("/")[2]
    if site not in _site_answers:
        _site_answers[site] = releases.reachable(release.url)
        if not _site_answers[site]:
            progress(
                f"{site} does not answer within {releases.PROBE_SECONDS:.0f}s: building from source instead"
            )
    if not _site_answers[site]:
        return False
    with locks.held(group.cache_path.parent / f".{group.name}.lock", _waiting(group, progress)):
        if (group.cache_path / tool).is_file():
            return True
        progress(
            f"downloading {tool} {group.version} (official release, checksum-verified) into {group.cache_path}"
        )
        try:
            releases.fetch(tool, release, group.cache_path / tool, progress)
        except releases.ReleaseError as err:
            if err.refused:
                raise ToolchainError(f"{err}; `--build` builds it from source instead") from None
            progress(f"  {tool}: {err}; building from source instead")
            return False
    return True


def ensure_all(tools: tuple[str, ...], progress: Progress = lambda _msg: None) -> dict[str, Path]:
    return {tool: ensure(tool, progress) for tool in tools}


def _waiting(group: ToolGroup, progress: Progress) -> Callable[[], None]:
    return lambda: progress(
        f"waiting for another process that is getting {group.name} {group.version} into {group.cache_path} "
        "(building it takes minutes the first time; this one uses it once it is there)"
    )


def build_group(group: ToolGroup, progress: Progress = lambda _msg: None) -> Path:
    """Build every command of a group into the cache (once; concurrent callers wait)."""
    go = go_binary()
    if go is None:
        missing = ", ".join(group.packages)
        raise ToolchainError(
            f"{missing} not found on PATH or in {group.cache_path}, and Go is not installed "
            f"to build it: {GO_INSTALL_HINT}, or set {env_var(next(iter(group.packages)))}."
        )
    with locks.held(group.cache_path.parent / f".{group.name}.lock", _waiting(group, progress)):
        if all((group.cache_path / tool).is_file() for tool in group.packages):
            return group.cache_path
        staging = Path(tempfile.mkdtemp(prefix=f".{group.name}-", dir=group.cache_path.parent))
        try:
            _go_build(go, group, staging, progress)
            if group.cache_path.exists():
                shutil.rmtree(group.cache_path)
            staging.rename(group.cache_path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return group.cache_path


def _go_binary_name(package: str) -> str:
    """The file name go build gives a main package: its last element, skipping a /vN suffix."""
    parts = package.split("/")
    return parts[-2] if re.fullmatch(r"v\d+", parts[-1]) else parts[-1]


def _go_build(go: str, group: ToolGroup, out: Path, progress: Progress) -> None:
    names = ", ".join(group.packages)
    progress(
        f"building {names} {group.version} from the Go module proxy into {group.cache_path} "
        "(once per machine; the Kubernetes binaries take many minutes)"
    )
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=readonly")
    cmd = [
        go, "build", "-v", "-trimpath",
        "-ldflags", " ".join(group.ldflags),
        "-o", str(out) + os.sep,
        *group.packages.values(),
    ]  # fmt: skip
    started = time.monotonic()
    last_report = 0.0
    compiled = 0
    tail: list[str] = []
    proc = subprocess.Popen(
        cmd, cwd=group.module_dir, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-20:]
        if line and not line.startswith(("go: ", "#")):
            compiled += 1
        now = time.monotonic()
        if now - last_report >= 5:
            last_report = now
            progress(f"  {group.name}: {compiled} packages compiled, {now - started:.0f}s elapsed")
    if proc.wait() != 0:
        raise ToolchainError(
            f"building {names} failed (go build exited {proc.returncode}):\n" + "\n".join(tail)
        )
    for tool, package in group.packages.items():
        built = out / _go_binary_name(package)
        if built.name != tool:
            built.rename(out / tool)
    progress(f"  {group.name}: built in {time.monotonic() - started:.0f}s")
