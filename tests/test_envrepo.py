"""EnvRepo against real git repositories made with the git CLI."""

from __future__ import annotations

from pathlib import Path

import gitkit
import pytest
from gitkit import snapshot, write

from sandbox.source.envrepo import EnvRepo, EnvRepoError

# Isolated from the user's git configuration (signing, hooks, default branch).
GIT_ENV = gitkit.git_env("Ada Author", "ada@example.com")


def git(repo: Path, *args: str) -> str:
    return gitkit.git(repo, *args, env=GIT_ENV)


def commit(repo: Path, message: str, files: dict[str, str | bytes] | None = None) -> str:
    return gitkit.commit(repo, files, message, env=GIT_ENV)


def symlink(repo: Path, rel: str, target: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    path = tmp_path / "env"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


# -- opening ------------------------------------------------------------------------------------


def test_folder_that_is_not_a_git_repo_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(EnvRepoError, match="is not a git repository"):
        EnvRepo(tmp_path)


def test_folder_inside_another_repo_is_not_taken_for_that_repo(repo_dir: Path) -> None:
    commit(repo_dir, "init", {"apps/web/cm.yaml": "a: 1\n"})
    with pytest.raises(EnvRepoError, match="is not a git repository"):
        EnvRepo(repo_dir / "apps")


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EnvRepoError, match="does not exist"):
        EnvRepo(tmp_path / "nowhere")


def test_repo_with_no_commits_says_to_commit_first(repo_dir: Path) -> None:
    with pytest.raises(EnvRepoError) as err:
        EnvRepo(repo_dir)
    assert str(err.value) == f"env repo {repo_dir.resolve()} has no commits yet: commit your manifests first"


def test_branch_defaults_to_the_checked_out_branch(repo_dir: Path) -> None:
    sha = commit(repo_dir, "init")
    repo = EnvRepo(repo_dir)
    assert repo.branch == "main"
    assert repo.ref == "refs/heads/main"
    assert repo.head() == sha


def test_detached_head_is_followed_as_head(repo_dir: Path) -> None:
    first = commit(repo_dir, "one")
    commit(repo_dir, "two")
    git(repo_dir, "checkout", "-q", "--detach", first)
    repo = EnvRepo(repo_dir)
    assert repo.branch is None
    assert repo.head() == first


def test_explicit_branch_is_followed_whatever_is_checked_out(repo_dir: Path) -> None:
    main = commit(repo_dir, "one")
    git(repo_dir, "checkout", "-q", "-b", "feature")
    feature = commit(repo_dir, "two")
    assert EnvRepo(repo_dir).head() == feature
    repo = EnvRepo(repo_dir, branch="main")
    assert repo.branch == "main"
    assert repo.head() == main
    assert repo.head("feature") == feature


def test_unknown_branch_is_refused(repo_dir: Path) -> None:
    commit(repo_dir, "one")
    with pytest.raises(EnvRepoError, match="no branch 'nope'"):
        EnvRepo(repo_dir, branch="nope")


def test_head_sees_commits_made_after_opening(repo_dir: Path) -> None:
    commit(repo_dir, "one")
    repo = EnvRepo(repo_dir)
    second = commit(repo_dir, "two", {"a.yaml": "a: 1\n"})
    assert repo.head() == second
    assert repo.read_file(second, "a.yaml") == b"a: 1\n"


# -- revisions ----------------------------------------------------------------------------------


def test_resolve_understands_branches_tags_short_shas_and_ancestry(repo_dir: Path) -> None:
    first = commit(repo_dir, "one")
    git(repo_dir, "tag", "v1")
    second = commit(repo_dir, "two")
    repo = EnvRepo(repo_dir)
    assert repo.resolve("main") == second
    assert repo.resolve("HEAD~1") == first
    assert repo.resolve("v1") == first
    assert repo.resolve(first[:7]) == first
    assert repo.resolve(second) == second


@pytest.mark.parametrize("ref", ["nope", "HEAD~5", "--all", ""])
def test_resolve_of_an_unknown_or_option_like_ref_raises(repo_dir: Path, ref: str) -> None:
    commit(repo_dir, "one")
    with pytest.raises(EnvRepoError):
        EnvRepo(repo_dir).resolve(ref)


def test_commits_lists_history_newest_first_with_author_subject_and_parents(repo_dir: Path) -> None:
    first = commit(repo_dir, "first: add web")
    second = commit(repo_dir, "second: scale web\n\nbody text")
    third = commit(repo_dir, "third")
    repo = EnvRepo(repo_dir)
    history = repo.commits()
    assert [c.sha for c in history] == [third, second, first]
    assert history[1].subject == "second: scale web"
    assert history[1].author == "Ada Author"
    assert history[1].parents == (first,)
    assert history[2].parents == ()
    assert history[0].short == third[: len(history[0].short)] and len(history[0].short) >= 7
    assert history[0].timestamp > 1_600_000_000
    assert [c.sha for c in repo.commits(limit=2)] == [third, second]
    assert [c.sha for c in repo.commits("HEAD~1")] == [second, first]


def test_commit_info_describes_one_commit(repo_dir: Path) -> None:
    first = commit(repo_dir, "first")
    commit(repo_dir, "second")
    info = EnvRepo(repo_dir).commit_info(first[:8])
    assert (info.sha, info.subject, info.parents) == (first, "first", ())


def test_merge_commit_has_both_parents(repo_dir: Path) -> None:
    base = commit(repo_dir, "base")
    git(repo_dir, "checkout", "-q", "-b", "side")
    side = commit(repo_dir, "side", {"s.yaml": "s: 1\n"})
    git(repo_dir, "checkout", "-q", "main")
    main = commit(repo_dir, "main", {"m.yaml": "m: 1\n"})
    git(repo_dir, "merge", "-q", "--no-edit", "side")
    info = EnvRepo(repo_dir).commit_info("HEAD")
    assert info.parents == (main, side)
    assert base in {c.sha for c in EnvRepo(repo_dir).commits()}


# -- trees --------------------------------------------------------------------------------------


def test_export_of_an_older_revision_leaves_working_tree_and_index_untouched(
    repo_dir: Path, tmp_path: Path
) -> None:
    old = commit(repo_dir, "v1", {"apps/web/cm.yaml": "version: 1\n", "apps/web/sub/x.yaml": "x: 1\n"})
    commit(repo_dir, "v2", {"apps/web/cm.yaml": "version: 2\n"})
    # A user mid-edit: staged, unstaged and untracked changes.
    write(repo_dir, {"apps/web/cm.yaml": "version: 3 staged\n"})
    git(repo_dir, "add", "apps/web/cm.yaml")
    write(repo_dir, {"apps/web/cm.yaml": "version: 4 unstaged\n", "apps/web/new.yaml": "untracked: 1\n"})
    before = snapshot(repo_dir)

    out = tmp_path / "out"
    problems = EnvRepo(repo_dir).export_tree(old, "apps/web", out)

    assert problems == []
    assert (out / "cm.yaml").read_text() == "version: 1\n"
    assert (out / "sub" / "x.yaml").read_text() == "x: 1\n"
    assert not (out / "new.yaml").exists()
    assert snapshot(repo_dir) == before


def test_export_of_the_whole_repo_with_empty_subpath(repo_dir: Path, tmp_path: Path) -> None:
    sha = commit(repo_dir, "init", {"a/x.yaml": "x: 1\n", "top.yaml": "t: 1\n"})
    assert EnvRepo(repo_dir).export_tree(sha, "", tmp_path / "out") == []
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.yaml")) == [
        "a/x.yaml",
        "top.yaml",
    ]


def test_symlinks_leaving_the_repo_are_skipped_with_a_problem_naming_the_file(
    repo_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("password: hunter2\n")
    commit(repo_dir, "init", {"apps/web/ok.yaml": "ok: 1\n"})
    symlink(repo_dir, "apps/web/absolute.yaml", str(secret))
    symlink(repo_dir, "apps/web/relative.yaml", "../../../secret.yaml")
    sha = commit(repo_dir, "links")

    out = tmp_path / "out"
    problems = EnvRepo(repo_dir).export_tree(sha, "apps/web", out)

    assert sorted(p.file for p in problems) == ["apps/web/absolute.yaml", "apps/web/relative.yaml"]
    assert all("leaves the repository" in p.message for p in problems)
    assert sorted(p.name for p in out.iterdir()) == ["ok.yaml"]


def test_symlinks_inside_the_repo_are_written_as_what_they_point_to(repo_dir: Path, tmp_path: Path) -> None:
    commit(repo_dir, "init", {"shared/common.yaml": "common: 1\n", "shared/more/deep.yaml": "deep: 1\n"})
    symlink(repo_dir, "apps/web/common.yaml", "../../shared/common.yaml")
    symlink(repo_dir, "apps/web/shared", "../../shared")
    symlink(repo_dir, "apps/web/chain.yaml", "common.yaml")
    sha = commit(repo_dir, "links")

    out = tmp_path / "out"
    assert EnvRepo(repo_dir).export_tree(sha, "apps/web", out) == []
    assert (out / "common.yaml").read_text() == "common: 1\n"
    assert (out / "chain.yaml").read_text() == "common: 1\n"
    assert (out / "shared" / "more" / "deep.yaml").read_text() == "deep: 1\n"
    assert not any(p.is_symlink() for p in out.rglob("*"))


def test_symlink_loops_are_skipped_with_a_problem(repo_dir: Path, tmp_path: Path) -> None:
    commit(repo_dir, "init", {"apps/web/ok.yaml": "ok: 1\n"})
    symlink(repo_dir, "apps/web/a.yaml", "b.yaml")
    symlink(repo_dir, "apps/web/b.yaml", "a.yaml")
    symlink(repo_dir, "apps/web/up", "..")
    sha = commit(repo_dir, "loops")

    problems = EnvRepo(repo_dir).export_tree(sha, "apps/web", tmp_path / "out")

    assert {p.file for p in problems} == {"apps/web/a.yaml", "apps/web/b.yaml", "apps/web/up"}
    assert (tmp_path / "out" / "ok.yaml").exists()


def test_binary_manifests_are_skipped_with_a_problem_and_other_binary_files_written_as_they_are(
    repo_dir: Path, tmp_path: Path
) -> None:
    """A tool may read any file (a configMapGenerator's key, a chart's .Files): only a binary
    file named as a manifest is left out, and said."""
    binary = b"apiVersion: v1\n\x00\x01\x02"
    sha = commit(
        repo_dir,
        "init",
        {"app/bin.yaml": binary, "app/bin.json": binary, "app/logo.png": binary, "app/ok.yaml": "ok: 1\n"},
    )
    out = tmp_path / "out"
    problems = EnvRepo(repo_dir).export_tree(sha, "app", out)
    assert sorted(p.file for p in problems) == ["app/bin.json", "app/bin.yaml"]
    assert all("binary" in p.message for p in problems)
    assert sorted(p.name for p in out.iterdir()) == ["logo.png", "ok.yaml"]
    assert (out / "logo.png").read_bytes() == binary


def test_files_over_the_size_limit_are_skipped_with_a_problem_only_for_manifests(
    repo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPS_SANDBOX_MAX_FILE_MIB", "1")
    huge = "# padding\n" * (110 * 1024)  # just over 1 MiB of text
    just_under = "a" * (1024 * 1024)
    sha = commit(
        repo_dir,
        "init",
        {"app/huge.yaml": huge, "app/huge.txt": huge, "app/limit.yaml": just_under, "app/ok.yml": "ok: 1\n"},
    )
    out = tmp_path / "out"
    problems = EnvRepo(repo_dir).export_tree(sha, "app", out)
    assert [(p.file, "1 MiB" in p.message) for p in problems] == [("app/huge.yaml", True)]
    assert "GITOPS_SANDBOX_MAX_FILE_MIB" in problems[0].message
    assert sorted(p.name for p in out.iterdir()) == ["limit.yaml", "ok.yml"]


def test_multi_mib_manifests_are_read_under_the_default_limit(repo_dir: Path, tmp_path: Path) -> None:
    bundle = "# a vendored CRD bundle\n" * (4 * 1024 * 1024 // 24)  # about 4 MiB
    sha = commit(repo_dir, "init", {"app/bundle.yaml": bundle})
    problems = EnvRepo(repo_dir).export_tree(sha, "app", tmp_path / "out")
    assert problems == []
    assert (tmp_path / "out" / "bundle.yaml").stat().st_size == len(bundle)


def test_a_charts_packaged_dependencies_are_exported_and_other_archives_are_not(
    repo_dir: Path, tmp_path: Path
) -> None:
    sha = commit(
        repo_dir,
        "init",
        {
            "chart/Chart.yaml": "name: c\n",
            "chart/charts/dep-1.0.0.tgz": b"\x1f\x8b\x08\x00fake",
            "chart/backup.tgz": b"\x1f\x8b\x08\x00fake",
            "chart/archive.tar.gz": "not even gzip",
        },
    )
    out = tmp_path / "out"
    problems = EnvRepo(repo_dir).export_tree(sha, "chart", out)
    assert problems == []
    assert sorted(p.name for p in out.iterdir()) == ["Chart.yaml", "charts"]
    assert (out / "charts" / "dep-1.0.0.tgz").read_bytes() == b"\x1f\x8b\x08\x00fake", "byte for byte"


def test_submodules_are_skipped_with_a_problem(repo_dir: Path, tmp_path: Path) -> None:
    first = commit(repo_dir, "init", {"app/ok.yaml": "ok: 1\n"})
    # A gitlink entry is what `git submodule add` records; no network or second repo needed.
    git(repo_dir, "update-index", "--add", "--cacheinfo", f"160000,{first},app/vendored")
    git(repo_dir, "commit", "-q", "-m", "submodule")
    problems = EnvRepo(repo_dir).export_tree("HEAD", "app", tmp_path / "out")
    assert [p.file for p in problems] == ["app/vendored"]
    assert "submodule" in problems[0].message


def test_export_of_a_path_missing_at_that_revision_is_a_problem(repo_dir: Path, tmp_path: Path) -> None:
    sha = commit(repo_dir, "init", {"apps/web/a.yaml": "a: 1\n"})
    repo = EnvRepo(repo_dir)
    assert "does not exist" in repo.export_tree(sha, "apps/api", tmp_path / "a")[0].message
    assert "not a directory" in repo.export_tree(sha, "apps/web/a.yaml", tmp_path / "b")[0].message
    assert "leaves the repository" in repo.export_tree(sha, "../x", tmp_path / "c")[0].message


def test_read_tree_returns_in_memory_what_export_tree_writes(repo_dir: Path, tmp_path: Path) -> None:
    sha = commit(repo_dir, "init", {"app/b.yaml": "b: 1\n", "app/a/c.yaml": "c: 1\n", "app/bin.yaml": b"\0"})
    repo = EnvRepo(repo_dir)
    files, problems = repo.read_tree(sha, "app")
    assert files == {"a/c.yaml": b"c: 1\n", "b.yaml": b"b: 1\n"}
    assert [p.file for p in problems] == ["app/bin.yaml"]
    assert repo.export_tree(sha, "app", tmp_path / "out") == problems


def test_read_file_returns_bytes_at_a_revision_or_none(repo_dir: Path) -> None:
    old = commit(repo_dir, "v1", {"a.yaml": "v: 1\n"})
    new = commit(repo_dir, "v2", {"a.yaml": "v: 2\n", "dir/b.yaml": "b: 1\n"})
    symlink(repo_dir, "link.yaml", "a.yaml")
    symlink(repo_dir, "out.yaml", "/etc/hostname")
    linked = commit(repo_dir, "links")
    repo = EnvRepo(repo_dir)
    assert repo.read_file(old, "a.yaml") == b"v: 1\n"
    assert repo.read_file(new, "a.yaml") == b"v: 2\n"
    assert repo.read_file(old, "dir/b.yaml") is None
    assert repo.read_file(new, "dir") is None
    assert repo.read_file(linked, "link.yaml") == b"v: 2\n"
    assert repo.read_file(linked, "out.yaml") is None


def test_list_dirs_gives_top_level_folders_at_a_revision(repo_dir: Path) -> None:
    old = commit(repo_dir, "v1", {"web/a.yaml": "a: 1\n", "top.yaml": "t: 1\n"})
    new = commit(repo_dir, "v2", {"api/deep/b.yaml": "b: 1\n", ".github/ci.yml": "on: push\n"})
    repo = EnvRepo(repo_dir)
    assert repo.list_dirs(old) == ["web"]
    assert repo.list_dirs(new) == [".github", "api", "web"]


def test_changed_paths_names_added_modified_deleted_and_renamed_files(repo_dir: Path) -> None:
    old = commit(repo_dir, "v1", {"web/a.yaml": "a: 1\n", "web/b.yaml": "b: 1\n", "api/c.yaml": "c: 1\n"})
    write(repo_dir, {"web/a.yaml": "a: 2\n", "db/new.yaml": "n: 1\n"})
    git(repo_dir, "rm", "-q", "web/b.yaml")
    git(repo_dir, "mv", "api/c.yaml", "api/renamed.yaml")
    new = commit(repo_dir, "v2")
    repo = EnvRepo(repo_dir)
    assert repo.changed_paths(old, new) == {
        "web/a.yaml",
        "web/b.yaml",
        "db/new.yaml",
        "api/c.yaml",
        "api/renamed.yaml",
    }
    assert repo.changed_paths(new, new) == set()
    assert repo.changed_paths(None, old) == {"web/a.yaml", "web/b.yaml", "api/c.yaml"}


def test_a_git_lfs_pointer_reads_as_its_content_once_fetched_and_says_how_to_fetch_it_before(
    tmp_path: Path,
) -> None:
    import hashlib

    from gitkit import commit, git

    from sandbox.source.envrepo import EnvRepo

    content = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {from: lfs}\n"
    oid = hashlib.sha256(content).hexdigest()
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(content)}\n"
    repo_path = tmp_path / "env"
    repo_path.mkdir()
    git(repo_path, "init", "-q", "-b", "main")
    commit(repo_path, {"web/big.yaml": pointer}, "a manifest kept in Git LFS")
    repo = EnvRepo(repo_path)
    files, problems = repo.read_tree("HEAD", "web")
    assert files == {}
    assert [p.file for p in problems] == ["web/big.yaml"]
    assert "Git LFS pointer" in problems[0].message and "git lfs pull" in problems[0].message

    stored = repo_path / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    stored.parent.mkdir(parents=True)
    stored.write_bytes(content)  # as `git lfs pull` leaves it
    files, problems = repo.read_tree("HEAD", "web")
    assert files == {"big.yaml": content} and problems == []
    assert repo.read_file("HEAD", "web/big.yaml") == content


def test_what_is_made_of_a_repos_commits_and_the_repos_it_opens_live_and_go_with_that_read(
    tmp_path: Path,
) -> None:
    """No module keeps a cache: a scan or render made of a commit is kept by the EnvRepo read
    (two reads of one repo share nothing), and another repo its apps read is opened once by it
    and closed with it."""
    from gitkit import commit, git

    for name in ("env", "app"):
        (tmp_path / name).mkdir()
        git(tmp_path / name, "init", "-q", "-b", "main")
        commit(tmp_path / name, {"a/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"}, name)
    repo, again = EnvRepo(tmp_path / "env"), EnvRepo(tmp_path / "env")
    made: list[int] = []
    assert repo.memo.once(("scan", "x"), lambda: made.append(1) or len(made)) == 1
    assert repo.memo.once(("scan", "x"), lambda: made.append(1) or len(made)) == 1, "made once"
    assert again.memo.once(("scan", "x"), lambda: made.append(1) or len(made)) == 2, "another read's own"
    other = repo.other(str(tmp_path / "app"))
    assert repo.other(str(tmp_path / "app")) is other
    repo.close()
    assert repo.other(str(tmp_path / "app")) is not other, "closed with the read that opened it"
    repo.close()
    again.close()


def test_a_blob_the_clone_lacks_fails_only_the_folder_that_reads_it(repo_dir: Path) -> None:
    commit(repo_dir, "two folders", {
        "web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n",
        "docs/big.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: doc}\n",
    })  # fmt: skip
    lost = git(repo_dir, "rev-parse", "HEAD:docs/big.yaml").strip()
    (repo_dir / ".git" / "objects" / lost[:2] / lost[2:]).unlink()  # as a partial or damaged clone has it
    repo = EnvRepo(repo_dir)

    assert repo.list_files("HEAD") == ["docs/big.yaml", "web/cm.yaml"], "the tree still reads"
    assert repo.read_tree("HEAD", "web") == (
        {"cm.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n"},
        [],
    )
    files, problems = repo.read_tree("HEAD", "docs")
    assert files == {} and [p.file for p in problems] == ["docs/big.yaml"]
    assert "cannot be read from this clone's object database" in problems[0].message
    assert repo.files_containing("HEAD", "ConfigMap") == ["web/cm.yaml"]
    with pytest.raises(EnvRepoError, match="docs/big.yaml: its content cannot be read from this clone"):
        repo.read_file("HEAD", "docs/big.yaml")
