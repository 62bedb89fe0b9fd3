"""YAML as Kubernetes reads it: the sandbox's loader against kubectl's own reading.

Every file under tests/kubeyaml/ is one object whose ``corpus`` field holds the places YAML 1.1
(PyYAML's default) and sigs.k8s.io/yaml differ. kubectl reads each file (``create --dry-run=client
-o json``, which converts YAML to JSON exactly as ``apply`` does) and the sandbox's loader reads
it; the two must give the same JSON value, number types included. Under refused/ are files
kubectl refuses: the loader must refuse them too.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest
from clikit import REPOS, cluster_case, cm_path, live, output

from sandbox.cluster.local import LocalRuntime
from sandbox.manifest import kubeyaml, rawyaml
from sandbox.manifest.yamlguard import alias_problem
from sandbox.tools import toolchain

CORPUS = Path(__file__).parent / "kubeyaml"
READ = sorted(p.name for p in CORPUS.glob("*.yaml"))
REFUSED = sorted(p.name for p in (CORPUS / "refused").glob("*.yaml"))


def _kubectl(runtime: LocalRuntime, file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(toolchain.ensure("kubectl")), "--kubeconfig", str(runtime.kubeconfig_path), "--context",
         runtime.context, "create", "--dry-run=client", "-o", "json", "--validate=false", "-f", str(file)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _ours(text: str) -> Any:
    """As the sandbox reads a manifest: composed, guarded, built."""
    loader = kubeyaml.loader(text)
    try:
        node = loader.get_single_node()
        refused = alias_problem(node)
        if refused is not None:
            raise ValueError(refused)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _differences(theirs: Any, ours: Any, path: str = "") -> list[str]:
    """Where two JSON values differ. Numbers compare by type as well as value (1000 is not
    1000.0 to a typed int field), except past 2**53, where both are float64s written apart."""
    number = (int, float)
    if isinstance(theirs, number) and isinstance(ours, number) and not isinstance(theirs, bool):
        if isinstance(ours, bool):
            return [f"{path}: kubectl {theirs!r}, sandbox {ours!r}"]
        if max(abs(theirs), abs(ours)) >= 2**53:
            return [] if float(theirs) == float(ours) else [f"{path}: kubectl {theirs!r}, sandbox {ours!r}"]
        return (
            []
            if (type(theirs), theirs) == (type(ours), ours)
            else [f"{path}: kubectl {theirs!r}, sandbox {ours!r}"]
        )
    if type(theirs) is not type(ours):
        return [f"{path}: kubectl {theirs!r:.80}, sandbox {ours!r:.80}"]
    if isinstance(theirs, dict):
        out = [
            f"{path}/{k}: only {'kubectl' if k in theirs else 'sandbox'} has it"
            for k in set(theirs) ^ set(ours)
        ]
        for key in set(theirs) & set(ours):
            out += _differences(theirs[key], ours[key], f"{path}/{key}")
        return out
    if isinstance(theirs, list):
        if len(theirs) != len(ours):
            return [f"{path}: kubectl has {len(theirs)} items, sandbox {len(ours)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(theirs, ours, strict=True))
            for d in _differences(a, b, f"{path}[{i}]")
        ]
    return [] if theirs == ours else [f"{path}: kubectl {theirs!r:.80}, sandbox {ours!r:.80}"]


def _compared(runtime: LocalRuntime, file: Path) -> list[str]:
    done = _kubectl(runtime, file)
    assert done.returncode == 0, f"kubectl refused {file.name}: {done.stderr}"
    theirs = json.loads(done.stdout)
    ours = json.loads(json.dumps(_ours(file.read_text(encoding="utf-8"))))
    # kubectl's client-side dry-run fills in the namespace; the rest is the file as read.
    theirs["metadata"].pop("namespace", None)
    return _differences(theirs, ours)


@pytest.mark.parametrize("name", READ)
def test_the_loader_reads_each_corpus_file_as_kubectl_does(local_runtime: LocalRuntime, name: str) -> None:
    assert _compared(local_runtime, CORPUS / name) == []


@pytest.mark.parametrize("name", REFUSED)
def test_what_kubectl_refuses_the_loader_refuses(local_runtime: LocalRuntime, name: str) -> None:
    file = CORPUS / "refused" / name
    done = _kubectl(local_runtime, file)
    assert done.returncode != 0, f"kubectl read {name}: {done.stdout[:200]}"
    with pytest.raises((ValueError, kubeyaml.yaml.YAMLError)):
        _ours(file.read_text(encoding="utf-8"))


def test_long_and_deeply_nested_values_read_as_kubectl_reads_them(
    local_runtime: LocalRuntime, tmp_path: Path
) -> None:
    depth = kubeyaml.MAX_NESTING - 10
    nested = "[" * depth + "leaf" + "]" * depth
    long_text = "🚀 " + "x" * 1_000_000
    file = tmp_path / "big.yaml"
    file.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: corpus-big\n"
        f"corpus:\n  nested: {nested}\n  long: {long_text}\n  folded: >\n    {long_text}\n",
        encoding="utf-8",
    )
    assert _compared(local_runtime, file) == []


def test_nesting_past_the_limit_is_refused_by_name_and_kubectls_limit_too(
    local_runtime: LocalRuntime, tmp_path: Path
) -> None:
    deeper = tmp_path / "deeper.yaml"
    deeper.write_text("a: " + "[" * (kubeyaml.MAX_NESTING + 1) + "]" * (kubeyaml.MAX_NESTING + 1) + "\n")
    with pytest.raises(ValueError, match="nested more than"):
        _ours(deeper.read_text())
    beyond_kubectl = tmp_path / "beyond.yaml"
    beyond_kubectl.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ncorpus: "
        + "[" * 10_001
        + "]" * 10_001
        + "\n"
    )
    assert "exceeded max depth" in _kubectl(local_runtime, beyond_kubectl).stderr


@pytest.mark.parametrize("name", READ)
def test_what_the_sandbox_writes_reads_back_the_same_under_every_reader(name: str) -> None:
    """kubeyaml.dump output read by this loader (kubectl's rules) and by PyYAML's YAML 1.1 gives
    the value that was dumped: every ambiguous string is quoted."""
    value = _ours((CORPUS / name).read_text(encoding="utf-8"))
    text = kubeyaml.dump(value)
    assert _ours(text) == value
    assert kubeyaml.yaml.safe_load(text) == value
    assert "\\U0001F680" not in text and "\\ud83d" not in kubeyaml.json_bytes(value).decode()


def test_a_file_another_tool_reads_keeps_each_plain_scalar_as_written() -> None:
    text = (
        "resources:\n- base\n- 1.10\ncommonLabels:\n  enabled: yes\n  mode: 0o755\n  match: =\n"
        "  quoted: 'yes'\n  clock: 1:20\n"
    )
    data = rawyaml.load(text)
    data["namePrefix"] = "on"
    written = rawyaml.dump(data)
    assert "enabled: yes\n" in written and "mode: 0o755\n" in written and "match: =\n" in written
    assert "- 1.10\n" in written and "clock: 1:20\n" in written
    assert "quoted: 'yes'\n" in written and "namePrefix: 'on'\n" in written


def test_numbers_are_held_as_the_api_server_holds_them() -> None:
    read = _ours("a: 1e3\nb: 12345678901234567890\nc: 3.0\nd: 0.5\ne: !!float 2\n")
    assert read == {"a": 1000, "b": 1.2345678901234567e19, "c": 3, "d": 0.5, "e": 2}
    assert [type(read[k]) for k in "abcde"] == [int, float, int, float, int]
    assert not any(isinstance(v, float) and math.isnan(v) for v in read.values())


def test_values_yaml_11_misreads_and_astral_text_deploy_as_kubectl_would_send_them(
    local_runtime: LocalRuntime, tmp_path: Path
) -> None:
    """`matchType: =` (every AlertmanagerConfig route) and emoji, in plain YAML and through
    Kustomize with patches, reach the API server as the strings written."""
    with cluster_case(tmp_path, local_runtime, REPOS / "kube_yaml" / "one", "first") as case:
        synced = case.cli("sync")
        assert synced.returncode == 0, output(synced)
        alerts = live(case.kube, cm_path(f"alerts-{case.uid}", "route"))
        assert alerts is not None
        assert alerts["data"] == {
            "matchType": "=", "regexMatch": "=~", "enabled": "yes", "mode": "0755", "title": "📊 Cluster overview",
        }  # fmt: skip
        assert alerts["metadata"]["annotations"]["summary"] == "🔥 disk almost full 🔥"
        routes = live(case.kube, cm_path(f"routes-{case.uid}", "route"))
        assert routes is not None
        assert routes["data"] == {
            "matchType": "=",
            "severity": "=",
            "emoji": "🚀 launched",
            "owner": "team-b",
        }
        assert routes["metadata"]["annotations"]["note"] == "✅ patched"
        status = case.cli("status")
        assert status.returncode == 0 and "Traceback" not in output(status), output(status)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_utf16_manifests_with_a_bom_are_read_as_kubectl_reads_them_and_utf32_refused_as_it_is(
    local_runtime: LocalRuntime, tmp_path: Path, encoding: str
) -> None:
    """An editor on Windows saves YAML as UTF-16 with a byte-order mark (and CRLF): kubectl and
    kustomize decode it by the BOM, so the sandbox reads it as text, in a plain folder and
    through kustomize, never as a binary file. UTF-32 kubectl refuses, and so does the sandbox."""
    import codecs

    from gitkit import commit, git

    from sandbox.source.appspec import AppSpec
    from sandbox.source.envrepo import EnvRepo
    from sandbox.source.render import render_app

    text = (
        "apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: wide\r\ndata:\r\n  greeting: héllo 🚀\r\n"
    )
    bom = {
        "utf-16-le": codecs.BOM_UTF16_LE,
        "utf-16-be": codecs.BOM_UTF16_BE,
        "utf-32-le": codecs.BOM_UTF32_LE,
    }
    wide = bom[encoding] + text.encode(encoding)
    file = tmp_path / "wide.yaml"
    file.write_bytes(wide)
    done = _kubectl(local_runtime, file)
    if encoding.startswith("utf-32"):  # kubectl refuses it: so does the sandbox, naming the file
        assert done.returncode != 0 and "control characters" in done.stderr, done.stdout
    else:
        assert done.returncode == 0, done.stderr
    theirs = json.loads(done.stdout)["data"] if done.returncode == 0 else None

    repo = tmp_path / "env"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    kustomization = (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [wide.yaml]\n"
    )
    commit(repo, {"plain/wide.yaml": "", "built/kustomization.yaml": kustomization}, "layout")
    (repo / "plain" / "wide.yaml").write_bytes(wide)
    (repo / "built" / "wide.yaml").write_bytes(wide)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "wide files")
    for app in (AppSpec("plain", "plain", "team", "plain"), AppSpec("built", "built", "team", "kustomize")):
        rendered = render_app(EnvRepo(repo), app, "HEAD")
        if theirs is None:
            assert not rendered.ok and f"{app.path}/wide.yaml" in str(rendered.problems), rendered.problems
            continue
        assert rendered.ok, rendered.problems
        (obj,) = rendered.objects
        assert obj.manifest["data"] == theirs == {"greeting": "héllo 🚀"}
