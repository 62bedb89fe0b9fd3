"""Argo CD Applications and ApplicationSets read as apps, against real git repositories and
the real helm and kustomize: what each field makes, and the one-line message for what the
sandbox does not do."""

from __future__ import annotations

from pathlib import Path

import pytest
from clikit import REPOS, commit_fixture, repo_from_fixture
from gitkit import git

from sandbox.source.appspec import AppSpec
from sandbox.source.discovery import Discovery, discover, entry_question
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render import render_app

ARGO = REPOS / "argocd"


def _discover(tmp_path: Path, case: str) -> tuple[EnvRepo, Discovery]:
    path, _ = repo_from_fixture(tmp_path / case, ARGO / case, {}, case)
    repo = EnvRepo(path)
    return repo, discover(repo, "HEAD")


def _repo_of(tmp_path: Path, files: dict[str, str]) -> Path:
    """A repo of one commit holding ``files``."""
    from gitkit import commit

    repo = tmp_path / "env"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, dict(files), "the files")
    return repo


def _apps(found: Discovery) -> dict[str, AppSpec]:
    return {a.names.short: a for a in found.apps}


def _data(repo: EnvRepo, app: AppSpec) -> dict[str, dict]:
    rendered = render_app(repo, app, "HEAD")
    assert rendered.ok, [str(p) for p in rendered.problems]
    return {o.key.name: o.manifest for o in rendered.objects}


def test_application_sets_generate_apps_from_lists_git_files_directories_and_a_matrix(tmp_path: Path) -> None:
    _repo, found = _discover(tmp_path, "appsets")
    apps = _apps(found)

    assert {n: (a.path, a.namespace) for n, a in apps.items()} == {
        "team-red": ("svc/a", "team-red"),
        "team-blue": ("svc/a", "team-blue"),
        "env-dev": ("config/dev", "env-dev"),
        "env-prod": ("config/prod", "env-prod"),
        "in-cluster-a": ("svc/a", "svc-a"),
        "in-cluster-b": ("svc/b", "svc-b"),
        "previews": ("sets", "default"),
        "valued-green": ("svc/a", "green-owner"),
        "valued-b": ("svc/b", "b-space"),
        "core-in-cluster": ("svc/b", "core"),
        "team-dev": ("teams/dev", "red-dev"),
        "team-prod": ("teams/prod", "blue-prod"),
    }
    assert dict(apps["team-dev"].options.common_annotations) == {"wave": "3", "note": "dev only"}
    assert dict(apps["team-prod"].options.common_annotations) == {"wave": "7", "note": "{{notes.extra}}"}, (
        "a parameter a file lacks stays as written, as Argo CD's fasttemplate leaves it"
    )
    assert all(a.defined_in.startswith("sets/") for a in apps.values())
    assert apps["valued-green"].home == "argocd", "made in the ApplicationSet's namespace, as Argo CD does"
    assert found.problems == [], "an ApplicationSet that cannot expand is an app of its own, failed"
    assert sorted(found.notices) == [
        "sets/chained.yaml ApplicationSet chained: no generator makes {{notes.extra}} for some of its Applications: "
        "left as written there, as Argo CD leaves a parameter it does not have",
        "sets/selected.yaml ApplicationSet production-only: generates no Application here (its clusters generator "
        "selects env=production, and the sandbox's one cluster, in-cluster, has no labels: Argo CD labels it with a "
        "cluster Secret, which the sandbox does not read yet)",
    ], "as in Argo CD, none is made (or a parameter is left as written), and that is said"
    assert [str(p) for p in apps["previews"].invalid] == [
        "sets/unsupported.yaml ApplicationSet previews: the pullRequest generator is not supported by the "
        "sandbox (list, git, clusters and matrix are)"
    ]


def test_an_application_set_read_as_a_root_and_as_an_apps_child_is_said_once(tmp_path: Path) -> None:
    repo, _found = _discover(tmp_path, "appset-in-app")
    git(repo.path, "remote", "add", "origin", "https://git.example.com/tests/appset-in-app.git")
    found = discover(repo, "HEAD")
    assert [n for n in found.notices if "ApplicationSet rollouts" in n] == [
        "platforms/cicd/appset.yaml ApplicationSet rollouts: generates no Application here (its clusters generator "
        "selects cicd-platform=true, and the sandbox's one cluster, in-cluster, has no labels: Argo CD labels it "
        "with a cluster Secret, which the sandbox does not read yet)"
    ], found.notices
    platform = render_app(repo, {a.name: a for a in found.apps}["platform"], "HEAD")
    assert [n.message for n in platform.notices if "ApplicationSet" in n.message] == [
        "read, not applied: ApplicationSet.argoproj.io argocd/rollouts (the sandbox is Argo CD's ApplicationSet "
        "controller: the Applications it generates show as apps of their own)"
    ], "an ApplicationSet its folder holds is named, never passed over in silence"


def test_fields_the_sandbox_does_not_honour_fail_their_app_by_name_and_the_rest_run(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "unsupported")
    failed = {a.name: a for a in found.apps if a.invalid}
    said = {name: " ".join(p.message for p in app.invalid) for name, app in failed.items()}

    assert [a.name for a in found.apps if not a.invalid] == ["pinned", "fine"]
    assert "repos:" in said["elsewhere"] and "https://git.example.com/someone/else.git" in said["elsewhere"]
    assert "nothing is fetched" in said["from-chart-repo"] and "`helm pull " in said["from-chart-repo"]
    assert "plugin" in said["plugin-app"]
    assert found.problems == [], "each problem belongs to the app it fails"
    assert all(p.file == "apps/all.yaml" for app in failed.values() for p in app.invalid)
    # A failed app shows as one (kind Application), and its render says why, as Argo CD's
    # ComparisonError does.
    rendered = render_app(repo, failed["plugin-app"], "HEAD")
    assert not rendered.ok and rendered.problems == failed["plugin-app"].invalid
    assert failed["plugin-app"].kind == "Application"


def test_an_entry_folder_that_is_a_helm_chart_of_applications_is_the_root_app(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "entry")
    apps = _apps(found)

    assert [(a.name, a.parent) for a in found.apps] == [
        ("apps", ""),
        ("guestbook", "apps"),
        ("ledger", "apps"),
    ]
    assert apps["apps"].source == "helm"
    assert found.problems == []
    root = render_app(repo, apps["apps"], "HEAD")
    assert root.ok and root.objects == () and [c.key.name for c in root.children] == ["guestbook", "ledger"]
    assert _data(repo, apps["guestbook"]).keys() == {"guestbook"}


def test_a_directory_app_reads_its_top_folder_only_unless_recurse_and_honours_exclude(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "options")
    apps = _apps(found)

    assert _data(repo, apps["flat"]).keys() == {"top"}
    assert _data(repo, apps["deep"]).keys() == {"top", "deep"}


def test_kustomize_fields_of_an_application_are_applied_as_kustomize_edit_would(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "options")
    app = _apps(found)["kust"]

    assert app.source == "kustomize"
    objects = _data(repo, app)
    deployment = objects["pre-web-post"]
    assert deployment["metadata"]["labels"]["team"] == "blue"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.example.com/mirror/nginx:1.27-alpine"
    )
    assert deployment["spec"]["replicas"] == 4, "source.kustomize.patches, added as Argo CD adds them"
    said = [str(n) for n in render_app(repo, app, "HEAD").notices]
    assert any("replace of a missing path adds it" in n for n in said), "as kustomize builds it, said"


def test_helm_fields_of_an_application_layer_files_then_inline_values_then_parameters(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "options")
    app = _apps(found)["chart"]

    data = _data(repo, app)["rel-values"]["data"]
    assert data == {"greeting": "inline", "extra": "from-file", "replicas": "3", "port": "string"}


def test_jsonnet_programs_evaluate_with_ext_vars_top_level_arguments_and_libraries(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "jsonnet")
    apps = _apps(found)

    objects = _data(repo, apps["programs"])
    assert set(objects) == {"settings", "first", "second"}, "a .libsonnet is a library, never an object"
    assert objects["settings"]["data"] == {"env": "staging", "replicas": "3"}
    broken = render_app(repo, apps["broken"], "HEAD")
    assert not broken.ok
    assert [p.file for p in broken.problems] == ["broken/bad.jsonnet"]
    assert "undefined_variable" in broken.problems[0].message


def test_a_multi_source_app_takes_values_files_from_its_ref_source(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "multisource")

    assert found.problems == []
    app = _apps(found)["multi"]
    assert app.values == ("../envs/staging.yaml",)
    assert _data(repo, app)["colour"]["data"] == {"colour": "green"}


def test_a_multi_source_app_with_two_sources_that_make_objects_renders_both_as_one_app(
    tmp_path: Path,
) -> None:
    """A local chart and a folder of manifests, with values from a ref source: Argo CD renders
    each source and applies them all as one app."""
    repo, found = _discover(tmp_path, "two-sources")

    assert found.problems == [] and [str(p) for a in found.apps for p in a.invalid] == []
    app = _apps(found)["media"]
    data = _data(repo, app)
    assert sorted(data) == ["media-extra", "media-settings"]
    assert data["media-settings"]["data"] == {"greeting": "from prod"}, "its values from the ref source"
    assert {o.key.namespace for o in render_app(repo, app, "HEAD").objects} == {"media"}
    assert _apps(found)["media-sub"].parent == "media", "an Application its second source holds is its child"


def test_an_app_pinned_to_a_tag_renders_that_tag_and_records_the_env_repos_head(tmp_path: Path) -> None:
    path, _ = repo_from_fixture(tmp_path / "pinned", ARGO / "pinned-1", {}, "level 1")
    git(path, "tag", "v1")
    head = commit_fixture(path, ARGO / "pinned-2", {}, "level 2, and two apps: one pinned to v1")
    repo = EnvRepo(path)
    apps = _apps(discover(repo, "HEAD"))

    pinned, current = (render_app(repo, apps[n], "HEAD") for n in ("pinned", "head"))
    assert pinned.objects[0].manifest["data"] == {"v": "1"} and current.objects[0].manifest["data"] == {
        "v": "2"
    }
    assert pinned.revision == current.revision == head


def test_an_app_from_another_local_repo_renders_that_repos_files(tmp_path: Path) -> None:
    repo_from_fixture(tmp_path / "app", ARGO / "otherrepo" / "app", {}, "the app repo")
    env_path, _ = repo_from_fixture(tmp_path / "env", ARGO / "otherrepo" / "env", {}, "the env repo")
    repo = EnvRepo(env_path)
    found = discover(repo, "HEAD")

    assert found.problems == []
    app = _apps(found)["from-app-repo"]
    assert app.repo == str(tmp_path / "app")
    rendered = render_app(repo, app, "HEAD")
    assert [o.key.name for o in rendered.objects] == ["from-the-app-repo"]


def test_an_application_set_that_cannot_expand_shows_once_failed_under_its_app_of_apps(
    tmp_path: Path,
) -> None:
    _repo, found = _discover(tmp_path, "appset-twice")
    said = [str(p) for p in found.problems]
    assert len(said) == len(set(said)), said
    failed = {a.name: a for a in found.apps}["ApplicationSet/argocd/qa"]
    assert failed.parent == "all-apps" and 'map has no entry for key "stage"' in str(failed.invalid[0]), (
        failed
    )


def test_an_application_sets_go_templates_render_functions_and_pipelines_as_argo_cd_does(
    tmp_path: Path,
) -> None:
    """text/template and Sprig, as the ApplicationSet controller runs them: index of the path
    segments, regexReplaceAll, pipelines into upper, lower, trunc and Argo CD's normalize."""
    repo, _found = _discover(tmp_path, "appset-functions")
    git(repo.path, "remote", "add", "origin", "https://git.example.com/tests/appset-functions.git")
    found = discover(repo, "HEAD")
    assert not found.problems and not [a for a in found.apps if a.invalid], found
    apps = {a.names.short: a for a in found.apps}
    assert {n: (a.path, a.namespace) for n, a in apps.items()} == {
        "home-assistant": ("apps/pitower/home/Home_Assistant", "home-home"),
        "plex": ("apps/pitower/media/plex-conf", "media-plex"),
    }


def test_sync_options_argo_cd_defaults_or_does_not_know_do_not_fail_an_app(tmp_path: Path) -> None:
    # The repoURL is git@git.example.com:team/env.git; sandbox.yaml maps https://…/Team/Env.git.
    repo, found = _discover(tmp_path, "syncoptions")
    apps = _apps(found)

    assert {n for n, a in apps.items() if a.invalid} == {"replace-true"}, {
        n: [str(p) for p in a.invalid] for n, a in apps.items()
    }
    assert "Replace=true is not supported" in str(apps["replace-true"].invalid[0])
    failed = apps["replace-true"]
    assert (failed.auto_sync, failed.self_heal) == (True, False), "automated: {} as written, though it failed"
    assert [p.message for p in apps["unknown-option"].notices] == [
        "syncOptions IgnoreMissingTemplate=true is not an option Argo CD knows: ignored, as Argo CD ignores it"
    ]
    rendered = render_app(repo, apps["unknown-option"], "HEAD")
    assert rendered.ok and rendered.notices[0] == apps["unknown-option"].notices[0]
    assert apps["replace-false"].notices == () and apps["respect-nothing"].notices == ()


def test_a_directory_app_without_recurse_is_not_failed_by_a_chart_in_a_subfolder(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "syncoptions")

    assert _data(repo, _apps(found)["replace-false"]).keys() == {"top"}, (
        "web/sub (a chart) and web/other unread"
    )


def test_a_chart_of_applications_in_a_plain_folder_is_pointed_to_as_the_argo_cd_entry(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "chart-of-apps")
    platform = _apps(found)["platform"]

    rendered = render_app(repo, platform, "HEAD")

    [said] = [p for p in rendered.problems if "Chart.yaml" in p.message]
    assert "--entry platform/apps" in said.message and "argocd: {path: platform/apps}" in said.message, said
    entered = discover(repo, "HEAD", entry="platform/apps")
    assert [(a.name, a.parent) for a in entered.apps] == [("apps", ""), ("guestbook", "apps")], [
        str(p) for p in entered.problems
    ]


def test_a_root_application_that_manages_its_own_folder_is_the_root_not_its_own_child(tmp_path: Path) -> None:
    _repo, found = _discover(tmp_path, "self-root")

    assert [(a.name, a.parent) for a in found.apps] == [("bootstrap", ""), ("shop", "bootstrap")]
    assert not _apps(found)["bootstrap"].after_parent and found.problems == []


def test_applications_in_the_folder_of_a_root_that_cannot_run_wait_under_it(tmp_path: Path) -> None:
    _repo, found = _discover(tmp_path, "failed-root")
    apps = _apps(found)

    assert apps["parent"].invalid, "Replace=true is not done here"
    assert (apps["shop"].parent, apps["shop"].after_parent) == ("parent", True), "not a root of its own"
    assert (apps["listed"].parent, apps["listed"].after_parent) == ("", False), "an ApplicationSet's: a root"
    assert apps["beside"].parent == "", "an ApplicationSet that cannot expand makes no Application beside it"
    assert apps["multi"].invalid, "Replace=true, with three sources"
    assert (apps["extra"].parent, apps["extra"].after_parent) == ("multi", True), "from its third source"
    assert apps["remote"].invalid and apps["remote"].reads_no_folder, "its chart is not fetched"
    assert apps["parent"].parent == apps["multi"].parent == "", "a chart app beside them defines none of them"
    assert apps["elsewhere"].invalid and apps["elsewhere"].reads_no_folder, "another repo, not mapped"
    assert apps["elsewhere-twice"].reads_no_folder and apps["elsewhere-twice"].also_reads == ()
    assert [a.name for a in found.apps if a.parent in ("elsewhere", "elsewhere-twice")] == [], (
        "an app of another repository's folders holds none of this repo's Applications"
    )


def test_an_ignore_difference_the_sandbox_cannot_honour_is_said_and_the_app_still_runs(
    tmp_path: Path,
) -> None:
    _repo, found = _discover(tmp_path, "ignore-select")
    app = _apps(found)["tolerant"]

    assert not app.invalid, [str(p) for p in app.invalid]
    said = [n.message for n in app.notices]
    assert any("jqPathExpressions" in n and "not honoured" in n for n in said), said
    assert any("managedFieldsManagers" in n and "not honoured" in n for n in said), said


def test_the_same_application_in_two_cluster_folders_asks_for_an_entry(tmp_path: Path) -> None:
    _repo, found = _discover(tmp_path, "two-clusters")

    [twice] = found.problems
    assert twice.message.startswith(
        "app web is defined 3 times: in clusters/east/web.yaml and in clusters/north/web.yaml and in "
        "clusters/west/web.yaml"
    ), twice.message
    assert "choose one with --entry clusters/east or --entry clusters/north or --entry clusters/west" in (
        twice.message
    ), twice.message
    assert found.apps == [], "no Argo CD runs both clusters' folders: the sandbox runs neither, and asks"
    asked = entry_question(_repo, "HEAD")
    assert asked is not None and asked.message == twice.message, "asked up front, before a cluster starts"


def test_an_entry_names_the_folder_of_the_applications_and_one_that_would_deploy_nothing_is_refused(
    tmp_path: Path,
) -> None:
    """Each cluster's Applications one folder down (clusters/east/argocd): the hint names that
    folder, not clusters/east, whose root app would deploy nothing; naming that is refused, as
    is naming a file, each saying what to name instead."""
    repo, _found = _discover(tmp_path, "two-clusters")
    for cluster in ("east", "north", "west"):
        (repo.path / "clusters" / cluster / "argocd").mkdir()
        git(repo.path, "mv", f"clusters/{cluster}/web.yaml", f"clusters/{cluster}/argocd/web.yaml")
    git(repo.path, "commit", "-qm", "one folder down")
    moved = EnvRepo(repo.path)

    [twice] = discover(moved, "HEAD").problems
    assert (
        "choose one with --entry clusters/east/argocd or --entry clusters/north/argocd or" in twice.message
    ), twice.message
    [empty] = discover(moved, "HEAD", entry="clusters/east").problems
    assert empty.message == (
        "--entry clusters/east: no manifests at the top of that folder, so its root app would deploy nothing (an "
        "entry is read as `argocd app create --path` reads it, without its subfolders): the Argo CD definitions "
        "below it are in clusters/east/argocd (--entry clusters/east/argocd)"
    )
    [file] = discover(moved, "HEAD", entry="clusters/east/argocd/web.yaml").problems
    assert (
        "it is a file; an entry is the folder the root app syncs (--entry clusters/east/argocd)"
        in file.message
    )
    chosen = discover(moved, "HEAD", entry="clusters/east/argocd")
    assert chosen.problems == [] and "web" in {a.name for a in chosen.apps}


def test_go_templates_of_parameters_alone_need_no_go_toolchain_and_functions_say_when_it_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine without Go (and no built renderer) still expands `{{.path.basename}}`; a
    template with functions fails its ApplicationSet saying why, never the others."""
    from sandbox.tools import toolchain

    def no_go(tool: str, *_args: object) -> Path:
        raise toolchain.ToolchainError(f"{tool} not found, and Go is not installed to build it")

    monkeypatch.setattr(toolchain, "ensure", no_go)
    _repo, plain = _discover(tmp_path / "plain", "appsets")
    assert {"env-dev", "env-prod", "valued-b"} <= set(_apps(plain)), (
        "goTemplate parameters alone: filled without Go"
    )
    repo, _found = _discover(tmp_path / "functions", "appset-functions")
    git(repo.path, "remote", "add", "origin", "https://git.example.com/tests/appset-functions.git")
    failed = discover(repo, "HEAD")
    (only,) = failed.apps
    assert only.invalid and "cannot render Go templates: gotemplate not found" in only.invalid[0].message, (
        only
    )


def test_applications_in_documentation_folders_are_said_not_taken_as_apps(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "docs-example")

    assert [a.name for a in found.apps] == ["shop"], "nobody applies docs/examples/my-app.yaml"
    assert found.note == "1 app from the Argo CD Applications in bootstrap/shop.yaml", (
        "no ApplicationSet to name"
    )
    assert found.problems == [], "its repoURL maps to no local repo, and that fails nothing"
    assert found.notices == (
        "not taken as apps: 2 Argo CD definitions in documentation, example or template folders (docs/examples/my-app.yaml, "
        "templates/web-service/skeleton/app.yaml); --entry docs/examples runs one",
    )
    git(repo.path, "rm", "-q", "bootstrap/shop.yaml")
    git(repo.path, "commit", "-qm", "only the example left")
    alone = discover(EnvRepo(repo.path), "HEAD")
    assert [a.name for a in alone.apps] == ["my-app"], "the only definition the repo has is taken"


def test_unrelated_yaml_files_and_missing_value_files_are_skipped_as_argo_cd_skips_them_and_said(
    tmp_path: Path,
) -> None:
    """A docker-compose.yaml and a list in a directory app are no manifests: Argo CD's repo
    server skips them (their text lacks apiVersion, kind and metadata); a file that has all three
    and does not parse is a broken manifest still. ignoreMissingValueFiles skips a missing file."""
    repo, found = _discover(tmp_path, "unrelated")
    apps = _apps(found)

    compose = render_app(repo, apps["compose"], "HEAD")
    assert compose.ok and [o.key.name for o in compose.objects] == ["web"], [str(p) for p in compose.problems]
    assert compose.objects[0].manifest["data"] == {"port": "8080"}, "the last of two copies, as Argo CD keeps"
    assert any("appears twice in app compose" in n.message and "RepeatedResourceWarning" in n.message
               for n in compose.notices), compose.notices  # fmt: skip
    assert {n.file for n in compose.notices if "not a Kubernetes manifest" in n.message} == {
        "compose/docker-compose.yaml", "compose/notes.yml",
    }  # fmt: skip
    broken = render_app(repo, apps["broken"], "HEAD")
    assert [p.file for p in broken.problems] == ["broken/cm.yaml"]
    chart = render_app(repo, apps["chart"], "HEAD")
    assert chart.ok and chart.objects[0].manifest["data"] == {"greeting": "hello"}, [
        str(p) for p in chart.problems
    ]
    assert [(n.file, n.message) for n in chart.notices if "values file" in n.message] == [
        ("chart/values-lab.yaml", "values file values-lab.yaml does not exist at this revision; skipped "
                                  "(helm.ignoreMissingValueFiles)"),
    ]  # fmt: skip


def test_an_application_defined_twice_beside_itself_runs_once_with_a_notice_not_a_failure(
    tmp_path: Path,
) -> None:
    """Two files of one folder define shop (a backup copy): Argo CD warns and runs one; the
    sandbox runs the first and says so, failing nothing."""
    repo, _found = _discover(tmp_path, "docs-example")
    (repo.path / "bootstrap" / "shop-backup.yaml").write_text(
        (repo.path / "bootstrap" / "shop.yaml").read_text()
    )
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-qm", "a backup copy")
    found = discover(EnvRepo(repo.path), "HEAD")

    assert [a.name for a in found.apps] == ["shop"] and found.problems == []
    assert any(
        "app shop is defined twice: in bootstrap/shop-backup.yaml and in bootstrap/shop.yaml: the first "
        "(bootstrap/shop-backup.yaml) runs" in n for n in found.notices
    ), found.notices  # fmt: skip


@pytest.mark.parametrize(("preserve", "cascade"), [(False, True), (True, False)])
def test_an_application_deletes_its_objects_only_with_its_resources_finalizer_as_argo_cd(
    tmp_path: Path, preserve: bool, cascade: bool
) -> None:
    """The template's finalizer makes its Applications cascade; preserveResourcesOnDeletion
    takes it off them; an Application without it keeps its objects when deleted."""
    repo = _repo_of(tmp_path, {
        "web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n",
        "sets/set.yaml": (
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: set, namespace: argocd}\nspec:\n"
            f"  syncPolicy: {{preserveResourcesOnDeletion: {str(preserve).lower()}}}\n"
            "  generators: [{list: {elements: [{name: web}]}}]\n"
            "  template:\n    metadata:\n      name: '{{name}}'\n"
            "      finalizers: [resources-finalizer.argocd.argoproj.io]\n"
            "    spec:\n      project: default\n      source: {repoURL: https://git.example.com/x.git, path: web}\n"
            "      destination: {server: https://kubernetes.default.svc, namespace: web}\n"
        ),
        "bare/app.yaml": (
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: bare, namespace: argocd}\nspec:\n"
            "  source: {repoURL: https://git.example.com/x.git, path: web}\n"
            "  destination: {server: https://kubernetes.default.svc, namespace: bare}\n"
        ),
        "sandbox.yaml": "repos:\n  https://git.example.com/x.git: .\n",
    })  # fmt: skip
    apps = _apps(discover(EnvRepo(repo), "HEAD"))

    assert apps["web"].cascade is cascade
    assert apps["bare"].cascade is False


def test_a_folder_that_is_a_chart_of_applications_says_how_to_run_them(tmp_path: Path) -> None:
    """No root Application in Git (it was made by hand): the chart is a folder app, and its
    Applications would run nothing; every command says so, and which --entry runs them."""
    repo = _repo_of(tmp_path, {
        "apps/Chart.yaml": "apiVersion: v2\nname: apps\nversion: 0.1.0\n",
        "apps/templates/web.yaml": (
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: web, namespace: argocd}\n"
            "spec:\n  source: {repoURL: https://git.example.com/x.git, path: web}\n"
            "  destination: {server: https://kubernetes.default.svc, namespace: web}\n"
        ),
        "web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n",
    })  # fmt: skip
    found = discover(EnvRepo(repo), "HEAD")

    assert (
        "apps is a Helm chart of Argo CD Applications: as a folder app its Applications are read, not run; "
        "--entry apps runs it as the Argo CD entry, its Applications as apps"
    ) in found.notices, found.notices


def test_a_chart_that_only_annotates_sync_waves_defines_no_apps_though_it_does_not_render(
    tmp_path: Path,
) -> None:
    """Its templates name argoproj.io in a sync-wave annotation, not in an Application: an app
    that does not render is unrendered for what it would define only when it defines apps."""
    app = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: eso, namespace: argocd}\n"
        "spec:\n  project: default\n  source: {repoURL: https://git.example.com/x.git, path: eso}\n"
        "  destination: {server: https://kubernetes.default.svc, namespace: eso}\n"
    )
    path = _repo_of(tmp_path, {
        "sandbox.yaml": 'repos: {"https://git.example.com/x.git": .}\n',
        "apps/eso.yaml": app,
        "eso/Chart.yaml": "apiVersion: v2\nname: eso\nversion: 1.0.0\n"
                          "dependencies: [{name: external-secrets, version: 1.0.0, repository: https://charts.example.com}]\n",
        "eso/templates/store.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: store\n"
                                    "  annotations: {argocd.argoproj.io/sync-wave: \"1\"}\n",
    })  # fmt: skip
    found = discover(EnvRepo(path), "HEAD")
    assert "eso" not in found.unrendered, "it defines no Application, rendered or not"


def test_an_empty_repo_url_is_said_empty_not_none(tmp_path: Path) -> None:
    """A values file that leaves repoURL blank makes `repoURL:` null: Argo CD requires it, and
    the message says it is empty (never the word None, nor a mapping for "None")."""
    path = _repo_of(tmp_path, {
        "apps/web.yaml": "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: web, namespace: argocd}\n"
                         "spec:\n  project: default\n  source:\n    repoURL:\n    path: web\n"
                         "  destination: {server: https://kubernetes.default.svc, namespace: web}\n",
        "web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    })  # fmt: skip
    found = discover(EnvRepo(path), "HEAD")
    said = [p.message for a in found.apps for p in a.invalid] + [p.message for p in found.problems]
    assert any("source.repoURL is empty" in m for m in said), said
    assert not any("None" in m for m in said), said


def test_a_kustomize_app_that_does_not_render_and_defines_no_application_is_no_unknown_parent(
    tmp_path: Path,
) -> None:
    app = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: vault, namespace: argocd}\n"
        "spec:\n  project: default\n  source: {repoURL: https://git.example.com/x.git, path: vault}\n"
        "  destination: {server: https://kubernetes.default.svc, namespace: vault}\n"
    )
    path = _repo_of(tmp_path, {
        "sandbox.yaml": 'repos: {"https://git.example.com/x.git": .}\n',
        "apps/vault.yaml": app,
        "vault/kustomization.yaml": "resources: [cm.yaml, missing.yaml]\n",
        "vault/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
                         "  annotations: {argocd.argoproj.io/sync-wave: \"1\"}\n",
    })  # fmt: skip
    found = discover(EnvRepo(path), "HEAD")
    assert "vault" not in found.unrendered, "no file it reads defines an Application"


def test_applications_a_failed_apps_kustomization_does_not_list_are_no_children_of_it(tmp_path: Path) -> None:
    """root has two sources, one of them the argocd folder, whose kustomization lists only
    projects/: Argo CD never makes web from it, so web, whose file sits in argocd/applications,
    runs on its own rather than under root."""

    def application(name: str, source: str) -> str:
        return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}, namespace: argocd}}\n"
                f"spec:\n  project: default\n  {source}\n"
                "  destination: {server: https://kubernetes.default.svc, namespace: default}\n")  # fmt: skip

    url = "https://git.example.com/x.git"
    path = _repo_of(tmp_path, {
        "sandbox.yaml": f'repos: {{"{url}": .}}\n',
        "argocd/kustomization.yaml": "resources: [projects/p.yaml]\n",
        "argocd/projects/p.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p}\n",
        "argocd/applications/root.yaml": application(
            "root", f"sources: [{{repoURL: {url}, path: apps/extra}}, {{repoURL: {url}, path: argocd}}]"),
        "argocd/applications/web.yaml": application("web", f"source: {{repoURL: {url}, path: apps/web}}"),
        "apps/web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: w}\n",
        "apps/extra/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: e}\n",
    })  # fmt: skip
    apps = _apps(discover(EnvRepo(path), "HEAD"))
    assert not apps["root"].invalid and len(apps["root"].also) == 1, "both sources render"
    assert apps["web"].parent == "", "no source of root reads web's file"


def test_an_scp_like_repo_url_without_its_colon_is_read_as_this_repo_and_said_to_be_no_url(
    tmp_path: Path,
) -> None:
    path = _repo_of(tmp_path, {
        "apps/web.yaml": "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: web, namespace: argocd}\n"
                         "spec:\n  project: default\n  source: {repoURL: git@git.example.com/org/env.git, path: web}\n"
                         "  destination: {server: https://kubernetes.default.svc, namespace: web}\n",
        "web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    })  # fmt: skip
    git(path, "remote", "add", "origin", "https://git.example.com/org/env.git")
    web = _apps(discover(EnvRepo(path), "HEAD"))["web"]
    assert not web.invalid, web.invalid
    said = [n.message for n in web.notices]
    assert any("needs a colon: git@git.example.com:org/env.git" in m for m in said), said


def test_argocd_source_files_in_an_apps_folder_are_merged_into_its_source_as_the_repo_server_does(
    tmp_path: Path,
) -> None:
    repo, found = _discover(tmp_path, "source-files")
    apps = _apps(found)

    pinned, shared = apps["pinned"], apps["shared"]
    assert pinned.path == shared.path == "web", "the path is never overridden"
    assert pinned.options.images == ("nginx:1.27",) and shared.options.images == ()
    assert dict(pinned.options.common_labels) == dict(shared.options.common_labels) == {"tier": "front"}
    images = {n: [c["image"] for c in _data(repo, a)["web"]["spec"]["template"]["spec"]["containers"]]
              for n, a in apps.items()}  # fmt: skip
    assert images == {"pinned": ["nginx:1.27"], "shared": ["nginx:1.25"]}
    assert [n.message for n in pinned.notices] == [
        "source parameters from web/.argocd-source.yaml and web/.argocd-source-pinned.yaml merged in, as Argo "
        "CD's repo server merges them"
    ]


def test_an_entry_whose_top_holds_only_jsonnet_is_taken_as_argocd_app_create_would_evaluate_it(
    tmp_path: Path,
) -> None:
    from sandbox.source.discovery import entry_refusal

    path = _repo_of(tmp_path, {"sets/appset.jsonnet": "{apiVersion: 'argoproj.io/v1alpha1', kind: 'ApplicationSet'}\n",
                               "empty/README.md": "nothing\n"})  # fmt: skip
    repo = EnvRepo(path)
    assert entry_refusal(repo, repo.resolve("HEAD"), "sets") is None
    assert entry_refusal(repo, repo.resolve("HEAD"), "empty") is not None


def test_a_top_level_argo_file_that_does_not_read_is_said_with_its_line_not_passed_over(
    tmp_path: Path,
) -> None:
    """No app renders a top-level file, so nothing else would say it: the repo is not read as
    folders either (its folders are an Application's, not apps of their own)."""
    broken = (
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: svcs\n"
        "spec:\n  generators: [\n"
    )
    repo = EnvRepo(_repo_of(tmp_path, {"apps/set.yaml": broken, "apps/a/cm.yaml": "kind: ConfigMap\n"}))
    found = discover(repo, "HEAD")

    assert found.apps == [], [a.name for a in found.apps]
    [problem] = found.problems
    assert (problem.file, problem.line) == ("apps/set.yaml", 6), problem
    assert problem.message.startswith("invalid YAML") and problem.message.endswith(
        "the Argo CD objects in it are not read"
    ), problem


def test_a_leaf_app_that_reads_outside_its_folder_and_stops_rendering_is_not_said_to_define_apps(
    tmp_path: Path,
) -> None:
    """Its earlier revision is rendered to learn what it defines (a kustomization reaching a
    base may hold Applications); it holds none, so the note for apps of apps is not its."""
    from gitkit import commit

    from sandbox.source.percommit import ClusterFacts

    app = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  namespace: argocd\n"
        "spec:\n  project: default\n  source:\n    repoURL: https://example.com/env.git\n    path: web\n"
        "  destination:\n    server: https://kubernetes.default.svc\n    namespace: web\n"
    )
    path = _repo_of(tmp_path, {
        "web.yaml": app, "sandbox.yaml": "repos:\n  https://example.com/env.git: .\n",
        "web/kustomization.yaml": "resources: [../base]\n", "base/kustomization.yaml": "resources: [cm.yaml]\n",
        "base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    })  # fmt: skip
    good = git(path, "rev-parse", "HEAD")
    commit(path, {"base/cm.yaml": "kind: [\n"}, "break the base")
    found = discover(EnvRepo(path), "HEAD", cluster=ClusterFacts({"web": good}))

    assert [a.name for a in found.apps] == ["web"]
    assert dict(found.read_at) == {}, "web defines no apps at the revision it runs"


def test_the_repos_argocd_cm_build_options_are_how_its_kustomize_applications_build(tmp_path: Path) -> None:
    """Argo CD builds every Kustomize Application with its argocd-cm's kustomize.buildOptions;
    a repo that sets --load-restrictor LoadRestrictionsNone lists files outside a folder, which
    the default refuses. Flags the sandbox does not honour are said."""
    app = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: x\n  namespace: argocd\n"
        "spec:\n  project: default\n  source:\n    repoURL: https://example.com/env.git\n    path: apps/x\n"
        "  destination:\n    server: https://kubernetes.default.svc\n    namespace: x\n"
    )
    files = {
        "x.yaml": app, "sandbox.yaml": "repos:\n  https://example.com/env.git: .\n",
        "apps/x/kustomization.yaml": "resources: [../../shared.yaml]\n",
        "shared.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n",
    }  # fmt: skip
    (tmp_path / "default").mkdir()
    (tmp_path / "configured").mkdir()
    default = EnvRepo(_repo_of(tmp_path / "default", files))
    [plain] = discover(default, "HEAD").apps
    refused = render_app(default, plain, "HEAD")
    assert not refused.ok and "is not in or below" in str(refused.problems[0]), [
        str(p) for p in refused.problems
    ]

    cm = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\ndata:\n"
        "  kustomize.buildOptions: --load-restrictor LoadRestrictionsNone --enable-alpha-plugins\n"
    )
    configured = EnvRepo(_repo_of(tmp_path / "configured", {**files, "argocd/argocd-cm.yaml": cm}))
    found = discover(configured, "HEAD")
    [built] = [a for a in found.apps if a.names.short == "x"]
    assert built.options.load_restrictor_none
    assert set(_data(configured, built)) == {"shared"}
    assert any("built with --load-restrictor LoadRestrictionsNone" in n for n in found.notices), found.notices
    assert any("--enable-alpha-plugins not honoured by the sandbox" in n for n in found.notices), (
        found.notices
    )


def test_a_string_where_argo_cds_schema_wants_a_boolean_or_integer_is_refused_as_the_api_server_does(
    tmp_path: Path,
) -> None:
    """Read leniently, prune: "false" turned prune on; the API server refuses the Application,
    and an ApplicationSet whose template puts a placeholder there, so Argo CD makes none of its
    Applications."""
    app = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  namespace: argocd\n"
        "spec:\n  project: default\n  source:\n    repoURL: https://example.com/env.git\n    path: web\n"
        "  destination:\n    server: https://kubernetes.default.svc\n    namespace: web\n"
        "  syncPolicy:\n    automated:\n      prune: 'false'\n"
    )
    appset = (
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: svcs\n  namespace: argocd\n"
        "spec:\n  goTemplate: true\n  generators:\n    - list:\n        elements: [{name: api, limit: 3}]\n"
        "  template:\n    metadata:\n      name: '{{ .name }}'\n    spec:\n      project: default\n"
        "      source: {repoURL: 'https://example.com/env.git', path: api}\n"
        "      destination: {server: 'https://kubernetes.default.svc', namespace: api}\n"
        "      syncPolicy:\n        retry:\n          limit: '{{ .limit }}'\n"
    )
    path = _repo_of(tmp_path, {
        "web.yaml": app, "set.yaml": appset, "sandbox.yaml": "repos:\n  https://example.com/env.git: .\n",
        "web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        "api/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    })  # fmt: skip
    found = discover(EnvRepo(path), "HEAD")
    apps = _apps(found)

    assert "api" not in apps, "the set makes none of its Applications"
    said = [str(p) for a in found.apps for p in a.invalid] + [str(p) for p in found.problems]
    assert any("spec.syncPolicy.automated.prune is the string 'false' where the schema wants a boolean" in s
               for s in said), said  # fmt: skip
    assert any("spec.template.spec.syncPolicy.retry.limit is the string '{{ .limit }}' where the schema wants an "
               "integer" in s and "makes none of its Applications" in s for s in said), said  # fmt: skip
