"""Which apps exist after a commit: removed, vanished and broken apps told apart."""

from __future__ import annotations

from pathlib import Path

from sandbox.agent import appchanges, settings
from sandbox.agent.settings import AppSettings
from sandbox.model import Problem
from sandbox.source.appconfig import CONFIG_FILE, AppSpec


def spec(name: str, prune: bool = True) -> AppSpec:
    return AppSpec(name, f"apps/{name}", name, "plain", prune=prune)


KNOWN = {"web": spec("web"), "db": spec("db", prune=False), "cache": spec("cache")}


def test_an_app_left_out_of_a_valid_sandbox_yaml_is_removed() -> None:
    plan = appchanges.changes([spec("cache")], [], True, KNOWN, "c2c2c2c")
    assert plan.removed == ("db", "web") and not plan.vanished and not plan.broken
    assert [s.name for s in plan.specs] == ["cache"]


def test_an_app_whose_folder_is_gone_without_a_sandbox_yaml_vanished_and_prunes_nothing() -> None:
    plan = appchanges.changes([spec("cache"), spec("db")], [], False, KNOWN, "c2c2c2c")
    assert plan.removed == () and list(plan.vanished) == ["web"]
    problem = plan.vanished["web"]
    assert problem.file == "apps/web" and "nothing applied or pruned" in problem.message
    assert CONFIG_FILE in problem.message


def test_an_app_with_an_invalid_entry_is_kept_broken_not_removed() -> None:
    bad = Problem("path 'apps/web' does not exist", file=CONFIG_FILE, line=3, object="web")
    plan = appchanges.changes([spec("cache"), spec("db")], [bad], True, KNOWN, "c2c2c2c")
    assert plan.broken == {"web": (bad,)} and plan.removed == ()


def test_a_whole_invalid_sandbox_yaml_keeps_every_known_app() -> None:
    bad = Problem("invalid YAML", file=CONFIG_FILE, line=1)
    plan = appchanges.changes([], [bad], True, KNOWN, "c2c2c2c")
    assert sorted(plan.broken) == ["cache", "db", "web"] and plan.removed == ()


def test_settings_survive_a_restart_and_read_the_format_before_them(tmp_path: Path) -> None:
    path = tmp_path / "agent" / "settings.json"
    saved = {"web": AppSettings(auto_sync=False, self_heal=True), "db": AppSettings(paused_at="abc123")}
    settings.save(path, saved)
    assert settings.load(path) == saved
    path.write_text('{"web": {"autoSync": true, "selfHeal": false, "paused": true, "target": "def456"}}')
    assert settings.load(path) == {"web": AppSettings(auto_sync=True, self_heal=False, paused_at="def456")}
    path.write_text("not json")
    assert settings.load(path) == {}


def test_apps_below_an_app_that_does_not_render_are_kept_not_removed() -> None:
    import dataclasses

    root = spec("root")
    known = {
        "root": root,
        "apps": dataclasses.replace(spec("apps"), parent="root"),
        "web": dataclasses.replace(spec("web"), parent="apps"),
        "gone": spec("gone"),
    }
    plan = appchanges.changes(
        [root, known["apps"]], [], True, known, "c2c2c2c", unrendered=frozenset({"apps"})
    )
    assert sorted(plan.broken) == ["web"] and plan.removed == ("gone",)
    assert (
        "apps does not render at c2c2c2c, so app web, which it defines, is kept"
        in plan.broken["web"][0].message
    )


def test_settings_keep_what_the_definition_said_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "agent" / "settings.json"
    kept = AppSettings(auto_sync=False, self_heal=True, defined=(True, True))
    settings.save(path, {"web": kept})
    assert settings.load(path) == {"web": kept}, "what the definition said is kept with them"


def test_the_root_app_of_another_entry_is_kept_and_says_how_to_run_it_not_to_delete_a_definition() -> None:
    root = AppSpec(
        "alpha", "clusters/alpha", "argocd", "plain", defined_in="clusters/alpha", kind="Application"
    )
    plan = appchanges.changes(
        [spec("cache")], [], True, {"alpha": root}, "c2c2c2c", still_defined=lambda _s: True
    )
    assert plan.removed == () and list(plan.elsewhere) == ["alpha"] and not plan.vanished
    said = plan.elsewhere["alpha"].message
    assert said.startswith("app alpha is the root app of the entry clusters/alpha, not of this run's") and (
        "--entry clusters/alpha runs it" in said and "delete its definition" not in said
    ), said


def test_an_app_of_a_root_that_does_not_render_is_kept_not_removed() -> None:
    """Another --entry whose root app fails to render: what it defines is unknown, so the apps
    that ran before are kept as they are, never pruned as removed."""
    root = AppSpec("applications", "k8s/applications", "argocd", "plain", kind="Application")
    plan = appchanges.changes([root], [], True, KNOWN, "c2c2c2c", unrendered=frozenset({"applications"}))
    assert plan.removed == () and sorted(plan.broken) == ["cache", "db", "web"]
    assert "applications does not render at c2c2c2c" in plan.broken["web"][0].message


def test_an_app_an_application_set_generates_is_still_defined_while_its_file_holds_the_set(
    tmp_path: Path,
) -> None:
    from agentkit import new_repo
    from sandbox.source.envrepo import EnvRepo

    repo = new_repo(tmp_path / "env", {"k8s/set.yaml": (
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: apps\n"
        "spec:\n  template:\n    metadata:\n      name: 'apps-{{ path.basename }}'\n"
    )})  # fmt: skip
    generated = AppSpec(
        "apps-tools", "k8s/tools", "tools", "plain", defined_in="k8s/set.yaml", kind="Application"
    )
    assert appchanges.still_defined(generated, EnvRepo(repo), "HEAD"), "its name is the template's making"


def test_an_app_whose_file_was_read_and_no_longer_makes_it_is_removed_unless_the_file_fails() -> None:
    """An ApplicationSet that stops generating an app (its folder deleted) deletes it, as the
    controller does; one that fails to generate deletes none; an app whose file this run did
    not read is another entry's, left as it is."""
    import dataclasses

    made = {n: dataclasses.replace(spec(n), defined_in="set.yaml", kind="Application") for n in ("a", "b")}
    plan = appchanges.changes([made["a"]], [], True, made, "c2c2c2c", still_defined=lambda _s: True,
                              read_files=frozenset({"set.yaml"}))  # fmt: skip
    assert plan.removed == ("b",) and not plan.elsewhere and not plan.vanished

    failed_set = AppSpec("set", ".", "argocd", "plain", defined_in="set.yaml", kind="ApplicationSet",
                         invalid=(Problem("bad template", file="set.yaml"),))  # fmt: skip
    plan = appchanges.changes([failed_set], [], True, made, "c2c2c2c", still_defined=lambda _s: True,
                              read_files=frozenset({"set.yaml"}))  # fmt: skip
    assert plan.removed == () and sorted(plan.broken) == ["a", "b"]
    assert (
        plan.broken["a"][0].message
        == "set.yaml, which made app a, fails at c2c2c2c: the app is kept as it is"
    )

    plan = appchanges.changes([spec("cache")], [], True, made, "c2c2c2c", still_defined=lambda _s: True)
    assert plan.removed == () and sorted(plan.elsewhere) == ["a", "b"] and not plan.vanished
    assert "(another --entry runs it?): left as it is" in plan.elsewhere["a"].message


def test_an_app_its_parent_no_longer_makes_is_removed_when_the_parent_prunes_and_left_when_not() -> None:
    import dataclasses

    parent = dataclasses.replace(spec("apps"), kind="Kustomization")
    child = dataclasses.replace(
        spec("demo"), parent="apps", kind="Kustomization", defined_in="apps/demo/ks.yaml"
    )
    known = {"apps": parent, "demo": child}
    plan = appchanges.changes([parent], [], True, known, "c2c2c2c", still_defined=lambda _s: True)
    assert plan.removed == ("demo",) and not plan.elsewhere

    keeping = dataclasses.replace(parent, prune=False)
    plan = appchanges.changes([keeping], [], True, {**known, "apps": keeping}, "c2c2c2c",
                              still_defined=lambda _s: True)  # fmt: skip
    assert plan.removed == () and list(plan.elsewhere) == ["demo"]
    assert "apps does not prune: its definition stays in the cluster" in plan.elsewhere["demo"].message

    moved = dataclasses.replace(parent, path="clusters/b")  # another entry's root of the same name
    plan = appchanges.changes([moved], [], True, known, "c2c2c2c", still_defined=lambda _s: True)
    assert plan.removed == () and "another --entry runs it?" in plan.elsewhere["demo"].message


def test_a_failure_is_tried_again_on_a_doubling_backoff_or_at_a_fixed_retry_interval() -> None:
    from sandbox.agent.failures import Failure

    failure = Failure("c2c2c2c", "refused", 1)
    assert [failure.schedule_retry() for _ in range(3)] == [5.0, 10.0, 20.0]
    fixed = Failure("c2c2c2c", "refused", 1)
    assert [fixed.schedule_retry(45.0) for _ in range(3)] == [45.0, 45.0, 45.0], "Flux's spec.retryInterval"


def test_an_app_its_application_set_stops_generating_is_removed_whatever_the_parent_prunes() -> None:
    """The ApplicationSet controller deletes the Applications it no longer generates; the app
    that applies the set (prune off) has no say in it."""
    import dataclasses

    root = dataclasses.replace(spec("root"), kind="Application", prune=False)
    made = dataclasses.replace(spec("c"), parent="root", kind="Application", defined_in="appsets/set.yaml",
                               generated=True)  # fmt: skip
    plan = appchanges.changes([root], [], True, {"root": root, "c": made}, "c2c2c2c",
                              still_defined=lambda _s: True, read_files=frozenset({"appsets/set.yaml"}))  # fmt: skip
    assert plan.removed == ("c",) and not plan.elsewhere


def test_a_root_that_does_not_render_keeps_only_what_it_may_define() -> None:
    """An app a set read this run stops generating is gone though some unrelated root fails to
    render; an app nothing read this run defines is kept while that root does not render."""
    import dataclasses

    broken = dataclasses.replace(spec("broken"), kind="Application")
    made = dataclasses.replace(spec("c"), kind="Application", defined_in="set.yaml", generated=True)
    orphan = dataclasses.replace(spec("d"), kind="Application", defined_in="other.yaml")
    plan = appchanges.changes([broken], [], True, {"broken": broken, "c": made, "d": orphan}, "c2c2c2c",
                              still_defined=lambda _s: True, unrendered=frozenset({"broken"}),
                              read_files=frozenset({"set.yaml"}))  # fmt: skip
    assert plan.removed == ("c",) and list(plan.broken) == ["d"], (plan.removed, plan.broken)
