"""render_app against real git repositories and the real kubectl, kustomize and helm binaries.

The first run may build kustomize and helm from Go into the per-user cache (minutes); other
processes may be building them already, and toolchain.ensure waits on their lock.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from gitkit import commit, git, snapshot, write

from sandbox.model import ObjectKey, Rendered
from sandbox.source.appconfig import AppSpec
from sandbox.source.appspec import RenderOptions
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render import render_app
from sandbox.tools import toolchain


def cm(name: str, namespace: str | None = None, **data: str) -> str:
    ns = f"  namespace: {namespace}\n" if namespace else ""
    body = "".join(f"  {k}: {v}\n" for k, v in data.items())
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{ns}" + (
        f"data:\n{body}" if body else ""
    )


def keys(rendered: Rendered) -> list[str]:
    return [str(o.key) for o in rendered.objects]


def plain(path: str = "apps/web", namespace: str = "web") -> AppSpec:
    return AppSpec(path.rsplit("/", 1)[-1], path, namespace, "plain")


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    path = tmp_path / "env"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


# -- plain --------------------------------------------------------------------------------------


def test_plain_reads_every_manifest_file_below_the_path_in_sorted_order(repo_dir: Path) -> None:
    sha = commit(
        repo_dir,
        {
            "apps/web/b.yaml": "---\n" + cm("b1") + "---\n---\n# only a comment\n---\n" + cm("b2"),
            "apps/web/a/x.yml": cm("a-x"),
            "apps/web/c.json": json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c"}}),
            "apps/web/kustomization.yaml": "resources: [b.yaml]\n",
            "apps/web/values.yaml": "replicas: 3\n",
            "apps/web/Chart.yaml": "name: nope\n",
            "apps/web/README.md": "# docs\n",
            "apps/web/.hidden/x.yaml": "not: an object\n",
            "apps/web/.yamllint.yaml": "rules: {}\n",
            "apps/other/cm.yaml": cm("elsewhere"),
        },
    )
    rendered = render_app(EnvRepo(repo_dir), plain(), sha)
    assert rendered.problems == ()
    assert rendered.ok
    assert rendered.revision == sha
    assert keys(rendered) == ["ConfigMap web/a-x", "ConfigMap web/b1", "ConfigMap web/b2", "Secret web/c"]
    assert [o.source for o in rendered.objects] == [
        "apps/web/a/x.yml",
        "apps/web/b.yaml",
        "apps/web/b.yaml",
        "apps/web/c.json",
    ]
    assert all(o.app == "web" for o in rendered.objects)


def test_list_kinds_are_expanded_into_their_items(repo_dir: Path) -> None:
    yaml_list = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: one}\n"
        "- apiVersion: v1\n  kind: ConfigMapList\n  items:\n"
        "  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: nested}\n"
    )
    json_list = {
        "apiVersion": "v1",
        "kind": "ServiceList",
        "items": [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}}],
    }
    sha = commit(repo_dir, {"apps/web/list.yaml": yaml_list, "apps/web/svc.json": json.dumps(json_list)})
    rendered = render_app(EnvRepo(repo_dir), plain(), sha)
    assert rendered.ok, rendered.problems
    assert keys(rendered) == ["ConfigMap web/one", "ConfigMap web/nested", "Service web/svc"]


def test_namespaces_are_defaulted_only_for_namespaced_kinds(repo_dir: Path) -> None:
    crd = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Cluster
  names: {kind: Gadget, plural: gadgets}
"""
    sha = commit(
        repo_dir,
        {
            "apps/web/objects.yaml": "\n---\n".join(
                [
                    cm("defaulted"),
                    cm("explicit", namespace="elsewhere"),
                    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n",
                    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
                    "metadata:\n  name: reader\n  namespace: ignored\n",
                    "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
                    "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n",
                    crd,
                ]
            )
        },
    )
    repo = EnvRepo(repo_dir)
    rendered = render_app(repo, plain(), sha)
    assert rendered.ok, rendered.problems
    assert keys(rendered) == [
        "ConfigMap web/defaulted",
        "ConfigMap elsewhere/explicit",
        "Namespace web",
        "ClusterRole.rbac.authorization.k8s.io reader",
        "Widget.example.com web/w",  # unknown kind: assumed namespaced
        "Gadget.example.com g",  # cluster-scoped per the CRD shipped in the same app
        "CustomResourceDefinition.apiextensions.k8s.io gadgets.example.com",
    ]
    assert rendered.objects[0].manifest["metadata"]["namespace"] == "web"
    assert "namespace" not in rendered.objects[3].manifest["metadata"]

    # The cluster's answer wins over every guess.
    asked: list[tuple[str, str]] = []

    def cluster(group: str, kind: str) -> bool | None:
        asked.append((group, kind))
        return {"Widget": False, "Gadget": True}.get(kind)

    by_cluster = render_app(repo, plain(), sha, is_namespaced=cluster)
    assert "Widget.example.com w" in keys(by_cluster)
    assert "Gadget.example.com web/g" in keys(by_cluster)
    assert ("example.com", "Widget") in asked


def test_unquoted_dates_stay_strings_as_kubernetes_reads_them(repo_dir: Path) -> None:
    sha = commit(repo_dir, {"apps/web/cm.yaml": cm("dated", released="2024-01-31", enabled="true")})
    rendered = render_app(EnvRepo(repo_dir), plain(), sha)
    assert rendered.objects[0].manifest["data"] == {"released": "2024-01-31", "enabled": True}


def test_render_of_an_older_revision_ignores_and_keeps_uncommitted_changes(repo_dir: Path) -> None:
    old = commit(repo_dir, {"apps/web/cm.yaml": cm("web", version="one")})
    commit(repo_dir, {"apps/web/cm.yaml": cm("web", version="two"), "apps/web/extra.yaml": cm("extra")})
    write(repo_dir, {"apps/web/cm.yaml": cm("web", version="staged")})
    git(repo_dir, "add", "apps/web/cm.yaml")
    write(repo_dir, {"apps/web/cm.yaml": cm("web", version="unstaged"), "apps/web/new.yaml": cm("untracked")})
    before = snapshot(repo_dir)

    rendered = render_app(EnvRepo(repo_dir), plain(), old)

    assert rendered.ok, rendered.problems
    assert keys(rendered) == ["ConfigMap web/web"]
    assert rendered.objects[0].manifest["data"] == {"version": "one"}
    assert snapshot(repo_dir) == before


def test_unknown_revision_is_a_problem_not_an_exception(repo_dir: Path) -> None:
    commit(repo_dir, {"apps/web/cm.yaml": cm("web")})
    rendered = render_app(EnvRepo(repo_dir), plain(), "no-such-branch")
    assert not rendered.ok
    assert "no-such-branch" in rendered.problems[0].message


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "line"),
    [
        ("  labels: [oops\n", 10),  # unclosed: found at the end of the file, placed where it opens
        ("  labels:\n    a: b\n   c: d\n", 12),  # bad indentation: where the parser stopped
        ("  labels: {a: b}\n  bad: x: y\n", 11),
    ],
)
def test_malformed_yaml_is_a_problem_with_file_and_line(repo_dir: Path, broken: str, line: int) -> None:
    text = cm("good") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n" + broken
    sha = commit(repo_dir, {"apps/web/cm.yaml": text, "apps/web/z.yaml": cm("later")})
    rendered = render_app(EnvRepo(repo_dir), plain(), sha)
    assert not rendered.ok
    (problem,) = rendered.problems
    assert (problem.file, problem.line) == ("apps/web/cm.yaml", line), problem
    assert "invalid YAML" in problem.message
    # What did parse is still shown, though nothing may be applied from it.
    assert keys(rendered) == ["ConfigMap web/good", "ConfigMap web/later"]


def test_malformed_json_is_a_problem_with_file_and_line(repo_dir: Path) -> None:
    sha = commit(repo_dir, {"apps/web/cm.json": '{\n  "apiVersion": "v1",\n  "kind": ConfigMap\n}\n'})
    rendered = render_app(EnvRepo(repo_dir), plain(), sha)
    assert [(p.file, p.line) for p in rendered.problems] == [("apps/web/cm.json", 3)]
    assert "invalid JSON" in rendered.problems[0].message


@pytest.mark.parametrize(
    ("document", "missing"),
    [
        ("kind: ConfigMap\nmetadata:\n  name: x\n", "missing apiVersion"),
        ("apiVersion: v1\nmetadata:\n  name: x\n", "missing kind"),
        ("apiVersion: v1\nkind: ConfigMap\n", "missing metadata"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n", "missing metadata.name"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ''\n", "missing metadata.name"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: [x]\n", "metadata (as a mapping)"),
        ("kind: ConfigMap\n", "missing apiVersion, metadata"),
        ("- just\n- a list\n", "document is a list, not a Kubernetes object"),
        ("plain text\n", "document is a string, not a Kubernetes object"),
    ],
)
def test_objects_missing_required_fields_are_problems_at_their_document(
    repo_dir: Path, document: str, missing: str
) -> None:
    sha = commit(repo_dir, {"apps/web/objects.yaml": cm("fine") + "---\n# the broken one\n" + document})
    rendered = render_app(EnvRepo(repo_dir), plain(), sha)
    assert not rendered.ok
    (problem,) = rendered.problems
    assert (problem.file, problem.line) == ("apps/web/objects.yaml", 7)
    assert missing in problem.message
    assert keys(rendered) == ["ConfigMap web/fine"]


def test_the_same_object_twice_is_a_problem_naming_both_files(repo_dir: Path) -> None:
    sha = commit(
        repo_dir,
        {
            "apps/web/a.yaml": cm("shared"),
            # Same key once the app namespace is filled in.
            "apps/web/b.yaml": cm("other") + "---\n" + cm("shared", namespace="web"),
        },
    )
    rendered = render_app(EnvRepo(repo_dir), plain(), sha)
    assert not rendered.ok
    (problem,) = rendered.problems
    assert problem.object == str(ObjectKey("", "ConfigMap", "web", "shared"))
    assert "apps/web/a.yaml:1" in problem.message and "apps/web/b.yaml:6" in problem.message
    assert (problem.file, problem.line) == ("apps/web/b.yaml", 6)
    assert keys(rendered) == ["ConfigMap web/shared", "ConfigMap web/other"]


def test_an_app_without_objects_is_a_problem(repo_dir: Path) -> None:
    sha = commit(repo_dir, {"apps/web/README.md": "# nothing\n", "apps/web/empty.yaml": "---\n# todo\n---\n"})
    rendered = render_app(EnvRepo(repo_dir), plain(), sha)
    assert not rendered.ok
    assert [(p.message, p.file) for p in rendered.problems] == [
        ("app web has no manifests at path apps/web", "apps/web")
    ]


@pytest.mark.parametrize("kind", ["Application", "HelmRelease"])
def test_a_chart_that_makes_nothing_with_its_values_deploys_as_empty_as_argo_cd_and_flux_do(
    repo_dir: Path, kind: str
) -> None:
    sha = commit(repo_dir, {
        "charts/off/Chart.yaml": "apiVersion: v2\nname: off\nversion: 1.0.0\n",
        "charts/off/values.yaml": "enabled: false\n",
        "charts/off/templates/cm.yaml": "{{- if .Values.enabled }}\n" + cm("off") + "{{- end }}\n",
    })  # fmt: skip
    app = dataclasses.replace(AppSpec("off", "charts/off", "team", "helm"), kind=kind)
    rendered = render_app(EnvRepo(repo_dir), app, sha)
    assert rendered.ok, rendered.problems
    assert rendered.objects == ()
    assert [n.message for n in rendered.notices] == [
        f"charts/off renders nothing (its chart makes no object with the values given); {kind} deploys it "
        "as empty, as the sandbox does"
    ]


def test_app_path_missing_at_the_revision_is_a_problem(repo_dir: Path) -> None:
    sha = commit(repo_dir, {"apps/api/cm.yaml": cm("api")})
    rendered = render_app(EnvRepo(repo_dir), plain(), sha)
    assert not rendered.ok
    assert "does not exist" in rendered.problems[0].message


def test_symlink_leaving_the_repo_makes_the_render_not_ok(repo_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(cm("stolen"))
    write(repo_dir, {"apps/web/cm.yaml": cm("web")})
    (repo_dir / "apps/web/link.yaml").symlink_to(outside)
    sha = commit(repo_dir)
    rendered = render_app(EnvRepo(repo_dir), plain(), sha)
    assert not rendered.ok
    assert [p.file for p in rendered.problems] == ["apps/web/link.yaml"]
    assert "leaves the repository" in rendered.problems[0].message
    assert keys(rendered) == ["ConfigMap web/web"]


def test_symlink_inside_the_repo_renders_its_target(repo_dir: Path) -> None:
    write(repo_dir, {"shared/cm.yaml": cm("shared")})
    (repo_dir / "apps/web").mkdir(parents=True)
    (repo_dir / "apps/web/shared.yaml").symlink_to("../../shared/cm.yaml")
    sha = commit(repo_dir)
    rendered = render_app(EnvRepo(repo_dir), plain(), sha)
    assert rendered.ok, rendered.problems
    assert [(str(o.key), o.source) for o in rendered.objects] == [
        ("ConfigMap web/shared", "apps/web/shared.yaml")
    ]


def test_binary_and_oversized_manifests_make_the_render_not_ok(repo_dir: Path) -> None:
    sha = commit(
        repo_dir,
        {
            "apps/web/cm.yaml": cm("web"),
            "apps/web/binary.yaml": b"apiVersion: v1\x00\xff",
            "apps/web/huge.json": " " * (1024 * 1024 + 1),
            "apps/web/image.png": b"\x89PNG\x00",
        },
    )
    rendered = render_app(EnvRepo(repo_dir), plain(), sha)
    assert not rendered.ok
    assert sorted(p.file for p in rendered.problems) == ["apps/web/binary.yaml", "apps/web/huge.json"]
    assert keys(rendered) == ["ConfigMap web/web"]


def test_invalid_utf8_is_a_problem(repo_dir: Path) -> None:
    sha = commit(repo_dir, {"apps/web/cm.yaml": cm("web").encode() + b"# caf\xe9\n"})
    rendered = render_app(EnvRepo(repo_dir), plain(), sha)
    assert [p.file for p in rendered.problems] == ["apps/web/cm.yaml"]
    assert "UTF-8" in rendered.problems[0].message


def test_rendering_a_thousand_plain_objects_takes_well_under_a_second(repo_dir: Path) -> None:
    files: dict[str, str | bytes] = {
        f"apps/web/many/cm-{i:04}.yaml": cm(f"cm-{i}", k="v") for i in range(500)
    }
    files["apps/web/bulk.yaml"] = "---\n".join(cm(f"bulk-{i}", k="v") for i in range(500))
    sha = commit(repo_dir, files)
    repo = EnvRepo(repo_dir)
    best = float("inf")
    for _ in range(3):  # best of three: the machine may be busy building Go
        started = time.perf_counter()
        rendered = render_app(repo, plain(), sha)
        best = min(best, time.perf_counter() - started)
    assert rendered.ok and len(rendered.objects) == 1000
    assert best < 1.0, f"rendering 1000 objects took {best:.2f}s"


# -- kustomize ----------------------------------------------------------------------------------

BASE = {
    "bases/web/kustomization.yaml": "resources:\n- deployment.yaml\n- service.yaml\n",
    "bases/web/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.27}]
""",
    "bases/web/service.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n",
    "overlays/dev/kustomization.yaml": """\
resources:
- ../../bases/web
- extra.yaml
namePrefix: dev-
patches:
- path: replicas.yaml
configMapGenerator:
- name: settings
  envs: [settings.env]
""",
    "overlays/dev/extra.yaml": cm("extra"),
    "overlays/dev/replicas.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n",
    "overlays/dev/settings.env": "MODE=dev\n",
}


def kustomize_app(path: str = "overlays/dev") -> AppSpec:
    return AppSpec("dev", path, "dev", "kustomize")


def test_kustomize_overlay_renders_with_its_base_from_outside_the_app_path(repo_dir: Path) -> None:
    sha = commit(repo_dir, BASE)

    rendered = render_app(EnvRepo(repo_dir), kustomize_app(), sha)

    assert rendered.ok, rendered.problems
    by_kind = {o.key.kind: o for o in rendered.objects}
    generated = [o for o in rendered.objects if o.key.name.startswith("dev-settings-")]
    assert len(generated) == 1, "configMapGenerator reads settings.env, a non-manifest file"
    assert generated[0].manifest["data"] == {"MODE": "dev"}
    assert sorted(keys(rendered)) == sorted(
        [
            "Deployment.apps dev/dev-web",
            "Service dev/dev-web",
            "ConfigMap dev/dev-extra",
            str(generated[0].key),
        ]
    )
    assert by_kind["Deployment"].manifest["spec"]["replicas"] == 3
    # Each object names the file it came from (kustomize's origin annotations, taken off the
    # objects again: they are not part of what Git asks for).
    assert {str(o.key): o.source for o in rendered.objects} == {
        "Deployment.apps dev/dev-web": "bases/web/deployment.yaml",
        "Service dev/dev-web": "bases/web/service.yaml",
        "ConfigMap dev/dev-extra": "overlays/dev/extra.yaml",
        str(generated[0].key): "overlays/dev/kustomization.yaml",
    }
    assert all("annotations" not in o.manifest["metadata"] for o in rendered.objects)


def test_kustomize_respects_the_namespace_its_kustomization_sets(repo_dir: Path) -> None:
    sha = commit(
        repo_dir,
        {**BASE, "overlays/prod/kustomization.yaml": "resources: [../../bases/web]\nnamespace: production\n"},
    )
    rendered = render_app(EnvRepo(repo_dir), kustomize_app("overlays/prod"), sha)
    assert rendered.ok, rendered.problems
    assert sorted(keys(rendered)) == ["Deployment.apps production/web", "Service production/web"]


def test_kustomize_failure_is_a_problem_with_the_tool_error_and_repo_paths(repo_dir: Path) -> None:
    sha = commit(
        repo_dir,
        {**BASE, "overlays/bad/kustomization.yaml": "resources:\n- ../../bases/missing\n- ../../bases/web\n"},
    )
    rendered = render_app(EnvRepo(repo_dir), kustomize_app("overlays/bad"), sha)
    assert not rendered.ok
    (problem,) = rendered.problems
    assert problem.file == "overlays/bad/kustomization.yaml"
    assert problem.message.startswith("kustomize build failed: ")
    assert "bases/missing" in problem.message
    assert "gitops-sandbox-render" not in problem.message, "scratch paths must not leak into messages"


def test_kustomize_reports_malformed_yaml_in_a_resource(repo_dir: Path) -> None:
    sha = commit(
        repo_dir,
        {
            "apps/k/kustomization.yaml": "resources: [cm.yaml]\n",
            "apps/k/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: [\n",
        },
    )
    rendered = render_app(EnvRepo(repo_dir), kustomize_app("apps/k"), sha)
    assert not rendered.ok
    culprit, failed = rendered.problems
    assert (culprit.file, culprit.line) == ("apps/k/cm.yaml", 5), culprit
    assert "line 5" in failed.message and "cm.yaml" in failed.message, "kustomize's own words kept"


def test_kustomize_objects_without_a_namespace_get_the_app_namespace(repo_dir: Path) -> None:
    sha = commit(
        repo_dir,
        {
            "apps/k/kustomization.yaml": "resources: [a.yaml]\n",
            "apps/k/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n"
            + cm("b", namespace="k"),
        },
    )
    rendered = render_app(EnvRepo(repo_dir), AppSpec("k", "apps/k", "k", "kustomize"), sha)
    assert rendered.ok, rendered.problems
    assert sorted(keys(rendered)) == ["ConfigMap k/a", "ConfigMap k/b"]
    assert {o.source for o in rendered.objects} == {"apps/k/a.yaml"}


def test_kustomize_falls_back_to_kubectl_when_no_kustomize_binary_exists(
    repo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubectl = toolchain.ensure("kubectl")
    git_dir = str(Path(shutil.which("git") or "/usr/bin/git").parent)
    if shutil.which("kustomize", path=git_dir):
        pytest.skip("a kustomize binary sits next to git; cannot hide it")
    # An empty cache and a PATH without kustomize: only kubectl's built-in kustomize is left.
    monkeypatch.setenv("GITOPS_SANDBOX_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("GITOPS_SANDBOX_KUBECTL", str(kubectl))
    monkeypatch.delenv("GITOPS_SANDBOX_KUSTOMIZE", raising=False)
    monkeypatch.setenv("PATH", git_dir)
    assert toolchain.find("kustomize") is None
    sha = commit(repo_dir, BASE)
    rendered = render_app(EnvRepo(repo_dir), kustomize_app(), sha)
    assert rendered.ok, rendered.problems
    assert "Deployment.apps dev/dev-web" in keys(rendered)


# -- helm ---------------------------------------------------------------------------------------

CHART = {
    "charts/demo/Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    "charts/demo/values.yaml": "replicas: 1\ngreeting: hello\ncolor: blue\n",
    "charts/demo/values-prod.yaml": "replicas: 3\ngreeting: hi from prod\n",
    "charts/demo/templates/_helpers.tpl": '{{- define "demo.name" -}}{{ .Release.Name }}-demo{{- end }}\n',
    "charts/demo/templates/configmap.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "demo.name" . }}
data:
  greeting: {{ .Values.greeting | quote }}
  color: {{ .Values.color | quote }}
  replicas: {{ .Values.replicas | quote }}
""",
    "charts/demo/templates/clusterrole.yaml": """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ include "demo.name" . }}-reader
rules: []
""",
    "charts/demo/templates/widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    "charts/demo/templates/tests/test-connection.yaml": """\
apiVersion: v1
kind: Pod
metadata:
  name: test-connection
  annotations: {"helm.sh/hook": test}
spec:
  containers: [{name: t, image: busybox}]
""",
    "charts/demo/crds/widgets.yaml": """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
""",
    "charts/demo/charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
    "charts/demo/charts/sub/templates/sa.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sub\n",
    "envs/prod/demo.yaml": "color: red\n",
}


def helm_app(values: tuple[str, ...] = (), release: str = "") -> AppSpec:
    return AppSpec("demo", "charts/demo", "demo-ns", "helm", values, release)


def test_helm_chart_renders_with_values_files_in_order(repo_dir: Path) -> None:
    sha = commit(repo_dir, CHART)
    app = helm_app(("values-prod.yaml", "../../envs/prod/demo.yaml"), release="main")
    rendered = render_app(EnvRepo(repo_dir), app, sha)
    assert rendered.ok, rendered.problems
    assert sorted(keys(rendered)) == [
        "ClusterRole.rbac.authorization.k8s.io main-demo-reader",
        "ConfigMap demo-ns/main-demo",
        "CustomResourceDefinition.apiextensions.k8s.io widgets.example.com",
        "ServiceAccount demo-ns/sub",
        "Widget.example.com demo-ns/w",
    ], "test hooks are skipped, CRDs and subcharts included"
    by_kind = {o.key.kind: o for o in rendered.objects}
    assert by_kind["ConfigMap"].manifest["data"] == {
        "greeting": "hi from prod",
        "color": "red",
        "replicas": "3",
    }
    assert by_kind["ConfigMap"].source == "charts/demo/templates/configmap.yaml"
    assert by_kind["ServiceAccount"].source == "charts/demo/charts/sub/templates/sa.yaml"
    assert by_kind["CustomResourceDefinition"].source == "charts/demo/crds/widgets.yaml"


def test_helm_release_name_defaults_to_the_app_name(repo_dir: Path) -> None:
    sha = commit(repo_dir, CHART)
    rendered = render_app(EnvRepo(repo_dir), helm_app(), sha)
    assert rendered.ok, rendered.problems
    configmap = next(o for o in rendered.objects if o.key.kind == "ConfigMap")
    assert configmap.key.name == "demo-demo"
    assert configmap.manifest["data"]["greeting"] == "hello"


def test_helm_template_error_is_a_problem_at_the_template_file_and_line(repo_dir: Path) -> None:
    sha = commit(repo_dir, {**CHART, "charts/demo/templates/bad.yaml": "x: {{ .Values.nope.x }}\n"})
    rendered = render_app(EnvRepo(repo_dir), helm_app(), sha)
    assert not rendered.ok
    (problem,) = rendered.problems
    assert (problem.file, problem.line) == ("charts/demo/templates/bad.yaml", 1)
    assert problem.message.startswith("helm template failed: ")
    assert "nil pointer" in problem.message
    assert "--debug" not in problem.message
    assert "gitops-sandbox-render" not in problem.message


def test_helm_template_rendering_invalid_yaml_is_a_problem_naming_the_template(repo_dir: Path) -> None:
    sha = commit(repo_dir, {**CHART, "charts/demo/templates/bad.yaml": "a: b\n  c: [\n"})
    rendered = render_app(EnvRepo(repo_dir), helm_app(), sha)
    assert not rendered.ok
    assert rendered.problems[0].file == "charts/demo/templates/bad.yaml"
    assert "YAML parse error" in rendered.problems[0].message


def test_helm_values_file_missing_at_the_revision_is_a_problem(repo_dir: Path) -> None:
    sha = commit(repo_dir, CHART)
    rendered = render_app(EnvRepo(repo_dir), helm_app(("values-staging.yaml",)), sha)
    assert not rendered.ok
    assert [p.file for p in rendered.problems] == ["charts/demo/values-staging.yaml"]


def test_helm_values_file_that_does_not_parse_is_a_problem_naming_it(repo_dir: Path) -> None:
    sha = commit(repo_dir, {**CHART, "envs/prod/broken.yaml": "- a list\n- not a mapping\n"})
    rendered = render_app(EnvRepo(repo_dir), helm_app(("../../envs/prod/broken.yaml",)), sha)
    assert not rendered.ok
    assert rendered.problems[0].file == "envs/prod/broken.yaml"
    assert "envs/prod/broken.yaml" in rendered.problems[0].message


def test_helm_rendered_objects_are_validated_like_plain_ones(repo_dir: Path) -> None:
    sha = commit(
        repo_dir,
        {
            **CHART,
            "charts/demo/templates/noname.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n",
            "charts/demo/templates/dup.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sub\n",
        },
    )
    rendered = render_app(EnvRepo(repo_dir), helm_app(), sha)
    assert not rendered.ok
    messages = {p.file: p.message for p in rendered.problems}
    assert "missing metadata.name" in messages["charts/demo/templates/noname.yaml"]
    dup = next(p for p in rendered.problems if p.object == "ServiceAccount demo-ns/sub")
    assert "charts/demo/templates/dup.yaml" in dup.message
    assert "charts/demo/charts/sub/templates/sa.yaml" in dup.message


def test_a_packaged_dependency_in_charts_renders_as_helm_reads_it(repo_dir: Path, tmp_path: Path) -> None:
    dep = tmp_path / "dep"
    (dep / "templates").mkdir(parents=True)
    (dep / "Chart.yaml").write_text("apiVersion: v2\nname: dep\nversion: 1.0.0\n")
    (dep / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-dep\n"
    )
    helm = toolchain.ensure("helm")
    subprocess.run([str(helm), "package", str(dep), "-d", str(tmp_path)], check=True, capture_output=True)
    packaged = (tmp_path / "dep-1.0.0.tgz").read_bytes()
    chart = {**CHART, "charts/demo/Chart.yaml": CHART["charts/demo/Chart.yaml"]
             + "dependencies:\n  - name: dep\n    version: 1.0.0\n    repository: https://charts.example.com\n"}  # fmt: skip

    good_sha = commit(repo_dir, {**chart, "charts/demo/charts/dep-1.0.0.tgz": packaged})
    broken_sha = commit(repo_dir, {**chart, "charts/demo/charts/dep-1.0.0.tgz": b"\x1f\x8b\x08\x00fake"})
    good = render_app(EnvRepo(repo_dir), helm_app(), good_sha)
    broken = render_app(EnvRepo(repo_dir), helm_app(), broken_sha)

    assert good.ok, good.problems
    assert "from-dep" in {o.key.name for o in good.objects}
    assert not broken.ok and "dep-1.0.0.tgz" in str(broken.problems[0]), broken.problems


@pytest.mark.parametrize("source", ["plain", "kustomize", "helm"])
def test_every_source_renders_old_revisions_without_touching_the_working_tree(
    repo_dir: Path, source: str
) -> None:
    files: dict[str, str | bytes] = {**CHART, **BASE, "apps/web/cm.yaml": cm("web")}
    old = commit(repo_dir, files)
    commit(repo_dir, {"apps/web/cm.yaml": cm("web2"), "charts/demo/values.yaml": "greeting: new\n"})
    write(repo_dir, {"overlays/dev/extra.yaml": cm("edited"), "charts/demo/templates/new.yaml": "{{ broken"})
    git(repo_dir, "add", "overlays/dev/extra.yaml")
    before = snapshot(repo_dir)
    app = {"plain": plain(), "kustomize": kustomize_app(), "helm": helm_app()}[source]

    rendered = render_app(EnvRepo(repo_dir), app, old)

    assert rendered.ok, rendered.problems
    assert rendered.revision == old
    assert snapshot(repo_dir) == before


def test_a_helm_chart_inside_a_plain_folder_is_said_once_as_a_chart_not_as_errors_per_template(
    tmp_path: Path,
) -> None:
    from gitkit import commit, git

    from sandbox.source.appspec import AppSpec
    from sandbox.source.envrepo import EnvRepo
    from sandbox.source.render import render_app

    repo_path = tmp_path / "env"
    repo_path.mkdir()
    git(repo_path, "init", "-q", "-b", "main")
    commit(repo_path, {
        "web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n",
        "web/charts/podinfo/Chart.yaml": "apiVersion: v2\nname: podinfo\nversion: 6.0.0\n",
        "web/charts/podinfo/templates/a.yaml": "{{- if .Values.a }}\nkind: ConfigMap\n{{- end }}\n",
        "web/charts/podinfo/templates/b.yaml": "metadata:\n  name: {{ .Release.Name }}\n",
    }, "a chart vendored below a plain app")  # fmt: skip
    rendered = render_app(EnvRepo(repo_path), AppSpec("web", "web", "web", "plain"), "HEAD")
    assert [p.file for p in rendered.problems] == ["web/charts/podinfo/Chart.yaml"], rendered.problems
    assert (
        "is a Helm chart" in rendered.problems[0].message and "source: helm" in rendered.problems[0].message
    )


@pytest.mark.parametrize(
    ("template", "advice"),
    [
        # A chart of Applications (app-of-apps as a chart) is an entry.
        (
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {{ .Values.name }}\n",
            "--entry apps/charts/podinfo",
        ),
        # A Rollout mentions argoproj.io twice and defines no app: an Application of its own.
        (
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nspec:\n  workloadRef:\n"
            "    apiVersion: argoproj.io/v1alpha1\n    kind: Application\n",
            "its own Application",
        ),
    ],
)
def test_a_chart_inside_a_plain_folder_is_advised_as_an_entry_only_when_its_templates_declare_applications(
    repo_dir: Path, template: str, advice: str
) -> None:
    commit(repo_dir, {
        "apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n",
        "apps/charts/podinfo/Chart.yaml": "apiVersion: v2\nname: podinfo\nversion: 6.0.0\n",
        "apps/charts/podinfo/templates/a.yaml": template,
    }, "a chart below a plain folder")  # fmt: skip
    app = AppSpec("apps", "apps", "argocd", "plain", kind="Application", options=RenderOptions(recurse=True))
    rendered = render_app(EnvRepo(repo_dir), app, "HEAD")
    assert [p.file for p in rendered.problems] == ["apps/charts/podinfo/Chart.yaml"], rendered.problems
    assert advice in rendered.problems[0].message, rendered.problems[0].message


def test_a_kind_nobody_knows_named_cluster_something_is_taken_for_cluster_scoped(tmp_path: Path) -> None:
    from gitkit import commit, git

    from sandbox.source.appspec import AppSpec
    from sandbox.source.envrepo import EnvRepo
    from sandbox.source.render import render_app

    repo_path = tmp_path / "env"
    repo_path.mkdir()
    git(repo_path, "init", "-q", "-b", "main")
    commit(repo_path, {
        "policies/policy.yaml": "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: verify}\n",
        "policies/local.yaml": "apiVersion: kyverno.io/v1\nkind: Policy\nmetadata: {name: local}\n",
    }, "kinds a chart brings")  # fmt: skip
    rendered = render_app(EnvRepo(repo_path), AppSpec("policies", "policies", "team", "plain"), "HEAD")
    assert {o.key.kind: o.key.namespace for o in rendered.objects} == {"ClusterPolicy": "", "Policy": "team"}


def test_a_tools_long_error_line_is_cut_at_a_cause_or_a_word_never_mid_word() -> None:
    from sandbox.source.render.run import _ERROR_LINE_CHARS, _trim_error

    # Words of ten characters: the last _ERROR_LINE_CHARS begin three letters into one.
    words = "abcdefghi " * (_ERROR_LINE_CHARS // 10 + 20)
    line = f"Error: {words}: open apps/web/missing.yaml: no such file or directory"
    assert line[-_ERROR_LINE_CHARS - 1] != " " and line[-_ERROR_LINE_CHARS] != " ", "the cut falls mid-word"
    cut = _trim_error(line)
    kept = cut.removeprefix("…")
    assert cut.startswith("…") and line[line.rindex(kept) - 1] == " ", f"cut mid-word: {cut[:60]}"
    assert cut.endswith("open apps/web/missing.yaml: no such file or directory")
    assert len(cut) <= _ERROR_LINE_CHARS + 1


def test_a_directory_exclude_with_brace_alternatives_inside_a_path_pattern_leaves_those_folders_out(
    repo_dir: Path,
) -> None:
    """Argo CD's `directory.exclude: "{argocd,registry}/**"`: the braces are alternatives
    wherever they stand in the pattern, not only around all of it."""
    sha = commit(repo_dir, {
        "infra/argocd/install.yaml": cm("argocd-install"),
        "infra/registry/creds.yaml": cm("registry"),
        "infra/monitoring/prom.yaml": cm("prometheus"),
    })  # fmt: skip
    options = RenderOptions(recurse=True, exclude="{argocd,registry}/**")
    app = AppSpec("infra", "infra", "infra", "plain", kind="Application", options=options)
    rendered = render_app(EnvRepo(repo_dir), app, sha)
    assert rendered.ok, rendered.problems
    assert keys(rendered) == ["ConfigMap infra/prometheus"]


def test_a_yaml_error_in_a_kustomize_base_is_named_by_its_repo_path_and_true_line(repo_dir: Path) -> None:
    """kustomize says "line 7 ... in File: deployment.yaml" (its own count, a bare name): the
    sandbox names apps/base/web/deployment.yaml:9 and why, read as the API server would."""
    commit(repo_dir, {
        "apps/base/web/kustomization.yaml": "resources: [deployment.yaml]\n",
        "apps/base/web/deployment.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n\n\ndata:\n"
                                         "  a: [1, 2\n  b: 3\n",
        "apps/lab/kustomization.yaml": "resources: [../base/web]\n",
        "apps/lab/ok.yaml": cm("unrelated"),
    }, "a base breaks")  # fmt: skip
    rendered = render_app(EnvRepo(repo_dir), AppSpec("web", "apps/lab", "web", "kustomize"), "HEAD")

    culprit, failed = rendered.problems
    assert (culprit.file, culprit.line) == ("apps/base/web/deployment.yaml", 9), culprit
    assert (
        "did not find expected ',' or ']'" in culprit.message
        and "kustomize build failed on it" in culprit.message
    )
    assert failed.file == "apps/lab/kustomization.yaml" and "in File: deployment.yaml" in failed.message


def test_one_sops_encrypted_secret_a_component_puts_in_many_namespaces_is_said_once() -> None:
    from sandbox.model import DesiredObject
    from sandbox.source.render.objects import encrypted

    secret = {"apiVersion": "v1", "kind": "Secret", "sops": {"age": []}}
    objects = [
        DesiredObject(ObjectKey("", "Secret", ns, "cluster-secrets"), {**secret, "metadata": {"name": "cluster-secrets"}},
                      "components/common/sops/secret.sops.yaml", "apps")
        for ns in ("a", "b", "c")
    ]  # fmt: skip
    app = AppSpec("apps", "apps", "flux-system", "kustomize", kind="Kustomization",
                  options=RenderOptions(flux=True, decryption=True))  # fmt: skip

    [said] = encrypted(objects, app)
    assert said.file == "components/common/sops/secret.sops.yaml"
    assert said.message.startswith("Secret cluster-secrets in 3 namespaces: SOPS-encrypted: decrypting it"), (
        said
    )


def test_helm_charts_in_a_base_are_named_by_the_bases_file_in_one_line(repo_dir: Path) -> None:
    commit(repo_dir, {
        "infra/cilium/kustomization.yaml": "helmCharts:\n  - name: cilium\n    repo: https://helm.cilium.io\n"
                                           "    version: 1.16.0\n    includeCRDs: true\n",
        "infra/network/kustomization.yaml": "resources: [../cilium, cm.yaml]\n",
        "infra/network/cm.yaml": cm("network"),
    }, "a chart in a base")  # fmt: skip
    app = AppSpec("network", "infra/network", "kube-system", "kustomize", kind="Application")
    rendered = render_app(EnvRepo(repo_dir), app, "HEAD")

    [said] = rendered.problems
    assert said.file == "infra/cilium/kustomization.yaml" and "\n" not in said.message, said
    assert said.message.startswith("helmCharts (cilium 1.16.0 from https://helm.cilium.io): "), said
    assert "an Application of its own (source.chart and repoURL)" in said.message


def test_a_charts_own_values_yaml_that_does_not_parse_is_named_by_its_repo_path_and_line(
    repo_dir: Path,
) -> None:
    sha = commit(
        repo_dir, {**CHART, "charts/demo/values.yaml": "replicas: 1\ngreeting: hello\ncolor: [blue\n"}
    )
    rendered = render_app(EnvRepo(repo_dir), helm_app(), sha)

    [said] = rendered.problems
    assert (said.file, said.line) == ("charts/demo/values.yaml", 3), said
    assert said.message.startswith("invalid YAML: "), said


def test_a_tool_cut_short_fails_the_render_as_cut_short_not_as_a_bug(
    repo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tool whose pipe breaks (the agent stopping while helm runs) is no bug in the sandbox."""
    from sandbox.source import render

    sha = commit(repo_dir, {"apps/web/cm.yaml": cm("c")})

    def broken(*_args: object) -> object:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setitem(render.SOURCE_TYPES, "plain", render.SourceType(lambda *_: True, broken))  # type: ignore[arg-type]
    rendered = render_app(EnvRepo(repo_dir), plain(), sha)
    [problem] = rendered.problems
    assert "the render was cut short (BrokenPipeError" in problem.message, problem.message
    assert "bug" not in problem.message


def test_a_binary_file_a_config_map_generator_reads_is_built_as_kustomize_builds_it(
    repo_dir: Path, tmp_path: Path
) -> None:
    """A key file (an OpenPGP key, a keystore) is no manifest: kustomize reads it as it is and
    puts it in binaryData. The sandbox builds it the same, compared with the CLI on the folder."""
    key = b"\x99\x02\x0d\x04\x00\x01\xff\xfe binary \x00 key"
    files: dict[str, str | bytes] = {
        "apps/keys/kustomization.yaml": "configMapGenerator:\n  - name: keys\n    files: [public=key.bin]\n",
        "apps/keys/key.bin": key,
    }
    sha = commit(repo_dir, files)

    rendered = render_app(EnvRepo(repo_dir), AppSpec("keys", "apps/keys", "keys", "kustomize"), sha)

    assert rendered.ok, rendered.problems
    [config_map] = [o.manifest for o in rendered.objects]
    write(tmp_path / "cli", files)
    built = subprocess.run([str(toolchain.ensure("kustomize")), "build", str(tmp_path / "cli" / "apps/keys")],
                           check=True, capture_output=True, text=True).stdout  # fmt: skip
    from sandbox.manifest import kubeyaml

    expected = kubeyaml.load(built)
    assert config_map["binaryData"] == expected["binaryData"]
    assert config_map["metadata"]["name"] == expected["metadata"]["name"]


def test_invalid_yaml_in_a_folder_flux_generates_a_kustomization_for_says_what_and_where(
    repo_dir: Path,
) -> None:
    """As for any file: the YAML problem itself, on a line the file has (an unclosed bracket on
    the last line, not one past it)."""
    sha = commit(repo_dir, {"gen/ok.yaml": cm("ok"), "gen/broken.yaml": "a: 1\nb: [unclosed\n"})
    app = AppSpec("gen", "gen", "gen", "kustomize", options=RenderOptions(flux=True))
    [problem] = render_app(EnvRepo(repo_dir), app, sha).problems
    assert (problem.file, problem.line) == ("gen/broken.yaml", 2), problem
    assert "did not find expected ',' or ']'" in problem.message, problem.message


@pytest.mark.parametrize("source", ["plain", "kustomize"])
def test_a_submodule_is_an_empty_folder_to_flux_and_missing_files_to_argo_cd(
    repo_dir: Path, source: str
) -> None:
    """Flux reads no submodule unless the GitRepository recurses: the rest of the folder is
    applied, the submodule said. Argo CD checks submodules out: without their files the app
    cannot be rendered whole, and fails, naming it."""
    files = {"apps/web/cm.yaml": cm("web")}
    if source == "kustomize":
        files["apps/web/kustomization.yaml"] = "resources: [cm.yaml]\n"
    first = commit(repo_dir, files)
    git(repo_dir, "update-index", "--add", "--cacheinfo", f"160000,{first},apps/web/vendored")
    git(repo_dir, "commit", "-q", "-m", "a submodule")
    repo = EnvRepo(repo_dir)
    flux = dataclasses.replace(plain(), source=source, options=RenderOptions(flux=True))  # type: ignore[arg-type]
    argo = dataclasses.replace(plain(), source=source)  # type: ignore[arg-type]

    as_flux = render_app(repo, flux, "HEAD")
    assert as_flux.ok and keys(as_flux) == ["ConfigMap web/web"], [str(p) for p in as_flux.problems]
    assert any(n.file == "apps/web/vendored" and "recurseSubmodules" in n.message for n in as_flux.notices), (
        as_flux.notices
    )
    as_argo = render_app(repo, argo, "HEAD")
    assert not as_argo.ok and as_argo.problems[0].file == "apps/web/vendored", [
        str(p) for p in as_argo.problems
    ]


def test_a_patch_file_that_is_not_yaml_is_named_with_its_line(repo_dir: Path) -> None:
    """kustomize says only "unable to parse SM or JSON patch from [path: ...]": the file is read
    again, as the API server would, for the line and the reason."""
    commit(repo_dir, {
        "apps/web/kustomization.yaml": "resources: [cm.yaml]\npatches:\n  - path: values.yaml\n",
        "apps/web/cm.yaml": cm("web", v="1"),
        "apps/web/values.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  v: [2\n",
    })  # fmt: skip
    app = dataclasses.replace(plain(), source="kustomize")
    rendered = render_app(EnvRepo(repo_dir), app, "HEAD")

    assert not rendered.ok
    found = [p for p in rendered.problems if p.file == "apps/web/values.yaml"]
    assert found and found[0].line == 6 and "invalid YAML" in found[0].message, [
        str(p) for p in rendered.problems
    ]
