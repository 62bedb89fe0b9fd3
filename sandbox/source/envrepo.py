"""The env repo, read-only: revisions, history and file trees read straight from git objects.

Nothing here checks out, stashes or writes the index: the user keeps editing their working
tree while the sandbox renders any committed revision beside it. Trees are exported from
the object database into a scratch folder, with symlinks resolved inside the repository
and anything unsafe or unrenderable (outside symlinks, binaries, huge files, submodules)
left out with a Problem saying why.
"""

from __future__ import annotations

import os
import posixpath
import re
import subprocess
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Without a git executable GitPython refuses to import; commands that need no git (doctor,
# cluster) must still run and say what is missing.
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
import git  # noqa: E402

from sandbox.model import Problem
from sandbox.source.commitmemo import CommitMemo
from sandbox.source.treeread import (
    MISSING,
    MODE_SYMLINK,
    NOT_IN_CLONE,
    Entry,
    Listing,
    Planned,
    accepted,
    lfs_content,
    lfs_pointer,
    plan_dir,
    resolve_path,
)

_LISTING_CACHE = 8
_FULL_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


class EnvRepoError(RuntimeError):
    """The env repo cannot be read as asked; the message says what to do."""


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    short: str
    author: str
    subject: str
    timestamp: int  # committer time, Unix seconds: when the change landed on the branch
    parents: tuple[str, ...]


# Fields never contain these separators (git strips control characters from names).
_LOG_FORMAT = "%H%x1f%h%x1f%an%x1f%ct%x1f%P%x1f%s%x1e"


class EnvRepo:
    """A local git repository describing desired state, opened read-only.

    ``branch`` is the branch the sandbox follows: the one given, else the one checked out
    when opened. With a detached HEAD (and no branch given) it is None and ``head()``
    follows HEAD itself. Safe to share between threads.
    """

    def __init__(self, path: str | os.PathLike[str], branch: str | None = None) -> None:
        self.path = Path(path).expanduser().resolve()
        try:
            # No parent search: a folder inside some other repo must not silently become it.
            self._repo = git.Repo(self.path)
        except git.NoSuchPathError:
            raise EnvRepoError(f"env repo {self.path} does not exist") from None
        except git.InvalidGitRepositoryError:
            raise EnvRepoError(
                f"env repo {self.path} is not a git repository: run `git init` there and commit "
                "your manifests, or point the sandbox at the repository's top folder"
            ) from None
        self._lock = threading.RLock()
        self._listings: OrderedDict[str, Listing] = OrderedDict()
        # Between two commits, and a commit's log, never change: kept, as every app asks them
        # again for its revert target (one status of a repo of 170 apps asked git 23,000 times).
        self._changes: OrderedDict[tuple[str, str], frozenset[str]] = OrderedDict()
        self._commits_seen: OrderedDict[str, bool] = OrderedDict()  # full shas known to be commits here
        self._logs: OrderedDict[tuple[str, ...], list[CommitInfo]] = OrderedDict()
        self._link_targets: dict[str, str] = {}
        self.memo = CommitMemo()  # scans and renders of its commits (see sandbox.source.percommit)
        self._others: dict[str, EnvRepo] = {}  # other local repos its apps read, opened once
        self.branch: str | None
        if branch is not None:
            self._ref = self._branch_ref(branch)
            self.branch = branch
        elif not self._repo.head.is_valid():
            raise EnvRepoError(f"env repo {self.path} has no commits yet: commit your manifests first")
        elif self._repo.head.is_detached:
            self._ref = "HEAD"
            self.branch = None
        else:
            self.branch = self._repo.head.reference.name
            self._ref = f"refs/heads/{self.branch}"

    def _branch_ref(self, branch: str) -> str:
        if not branch.strip() or branch.startswith("-"):
            raise EnvRepoError(f"{branch!r} is not a branch name")  # never reaches git as an option
        for ref in (f"refs/heads/{branch}", branch):
            if self._rev_parse(ref) is not None:
                return ref
        if not self._repo.head.is_valid() and not self._repo.heads:
            raise EnvRepoError(f"env repo {self.path} has no commits yet: commit your manifests first")
        raise EnvRepoError(f"env repo {self.path} has no branch {branch!r}")

    def close(self) -> None:
        """Stop the git helper processes GitPython keeps open (its other repos' too)."""
        with self._lock:
            self._repo.close()
            others, self._others = list(self._others.values()), {}
        for other in others:
            other.close()

    def other(self, path: str) -> EnvRepo:
        """Another local repo this one's apps read (an app repo), opened once and closed with
        this one; EnvRepoError when it cannot be opened."""
        with self._lock:
            if path not in self._others:
                self._others[path] = EnvRepo(path)
            return self._others[path]

    def __enter__(self) -> EnvRepo:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EnvRepo({str(self.path)!r}, branch={self.branch!r})"

    def follows_worktree(self) -> bool:
        """Whether the followed branch is the one checked out (so the working tree is its)."""
        with self._lock:
            try:
                head = self._repo.head
                return not head.is_detached and self.branch == head.reference.name
            except (TypeError, ValueError):
                return False

    @property
    def git_dir(self) -> str:
        """The repository's common git dir, absolute: the same for every worktree of it
        (`git worktree add`), so it tells one repository from another where paths cannot."""
        with self._lock:
            common = str(self._repo.git.rev_parse("--git-common-dir")).strip()
        return str((self.path / common).resolve())

    def remote_urls(self) -> list[str]:
        """The URLs of the repository's remotes (what Argo CD and Flux objects name it by)."""
        with self._lock:
            try:
                return [str(url) for remote in self._repo.remotes for url in remote.urls]
            except (git.GitCommandError, ValueError):
                return []

    def default_branch(self) -> str | None:
        """The branch a clone of the repo starts on (its remote's HEAD, as `git clone` records
        it), else a local main or master: the branch a merge lands on, which Flux and Argo CD
        objects in the repo usually name."""
        with self._lock:
            try:
                remote_head = str(self._repo.git.symbolic_ref("-q", "refs/remotes/origin/HEAD")).strip()
            except git.GitCommandError:
                remote_head = ""
            if remote_head.startswith("refs/remotes/origin/"):
                return remote_head.removeprefix("refs/remotes/origin/")
            for name in ("main", "master"):
                if self._rev_parse(f"refs/heads/{name}") or self._rev_parse(f"refs/remotes/origin/{name}"):
                    return name
        return None

    # -- revisions -------------------------------------------------------------------------

    @property
    def ref(self) -> str:
        """What ``head()`` follows: ``refs/heads/<branch>``, or ``HEAD`` when detached."""
        return self._ref

    def _rev_parse(self, ref: str) -> str | None:
        try:
            out = self._repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")
        except git.GitCommandError:
            return None
        return str(out).strip() or None

    def resolve(self, ref: str) -> str:
        """The full commit sha of a branch, tag, short sha or expression such as HEAD~1."""
        ref = ref.strip()
        # A leading dash would be read as an option by git.
        if not ref or ref.startswith("-"):
            raise EnvRepoError(f"{ref!r} is not a revision")
        if _FULL_SHA.match(ref):  # names one commit for good: asked of git once
            with self._lock:
                if ref in self._commits_seen:
                    return ref
        sha = self._rev_parse(ref)
        if sha is None:
            raise EnvRepoError(f"env repo {self.path} has no commit {ref!r}")
        with self._lock:
            _remember(self._commits_seen, sha, True)
        return sha

    def resolve_pinned(self, ref: str) -> tuple[str, str]:
        """(sha, the ref read) for a ref an app is pinned to (a GitRepository branch, an Argo CD
        targetRevision): as ``resolve``, and, for a branch that exists only as a remote-tracking
        branch (every branch of a fresh clone but the one checked out), that branch of
        ``origin`` or else of the first remote that has it, as Flux and Argo CD read the remote."""
        try:
            return self.resolve(ref), ref
        except EnvRepoError:
            if ref.startswith("-") or not ref.strip():
                raise
            with self._lock:
                names = sorted((r.name for r in self._repo.remotes), key=lambda n: (n != "origin", n))
            for remote in names:
                sha = self._rev_parse(f"refs/remotes/{remote}/{ref.strip()}")
                if sha is not None:
                    return sha, f"{remote}/{ref.strip()}"
            raise

    def head(self, ref: str | None = None) -> str:
        """The commit sha ``ref`` (default: the followed branch) points at right now."""
        return self.resolve(ref or self._ref)

    def commits(self, ref: str | None = None, limit: int = 200) -> list[CommitInfo]:
        """History reachable from ``ref`` (default: the followed branch), newest first."""
        return self._log(self.head(ref), f"--max-count={max(limit, 0)}")

    def commit_info(self, sha: str) -> CommitInfo:
        return self._log(self.resolve(sha), "--max-count=1", "--no-walk")[0]

    def _log(self, sha: str, *args: str) -> list[CommitInfo]:
        key = (sha, *args)
        with self._lock:
            found = self._logs.get(key)
        if found is None:
            found = self._read_log(sha, *args)
            with self._lock:
                _remember(self._logs, key, found)
        return list(found)

    def _read_log(self, sha: str, *args: str) -> list[CommitInfo]:
        out = self._repo.git.log(f"--format={_LOG_FORMAT}", "--no-show-signature", *args, sha, "--")
        infos = []
        for record in str(out).split("\x1e"):
            fields = record.strip("\n").split("\x1f")
            if len(fields) != 6:
                continue
            full, short, author, ts, parents, subject = fields
            infos.append(CommitInfo(full, short, author, subject, int(ts), tuple(parents.split())))
        return infos

    def changed_paths(self, old: str | None, new: str) -> set[str]:
        """Repo-relative paths of files added, changed or removed between two revisions.

        ``old=None`` means "from nothing": every file at ``new``. Renames count as both paths.
        """
        new_sha = self.resolve(new)
        if old is None:
            return {p for p, e in self._listing(new_sha).items() if e.type != "tree"}
        key = (self.resolve(old), new_sha)
        with self._lock:
            found = self._changes.get(key)
        if found is None:
            out = self._repo.git.diff_tree(
                "-r", "--name-only", "-z", "--no-renames", key[0], new_sha, "--", stdout_as_string=False
            )  # fmt: skip
            found = frozenset(os.fsdecode(p) for p in bytes(out).split(b"\0") if p)
            with self._lock:
                _remember(self._changes, key, found)
        return set(found)

    # -- trees -----------------------------------------------------------------------------

    def _commit_sha(self, revision: str) -> str:
        if _FULL_SHA.match(revision) and revision in self._listings:
            return revision
        return self.resolve(revision)

    def _listing(self, sha: str) -> Listing:
        """Every entry of a commit's tree by repo-relative path; cached, commits never change."""
        with self._lock:
            cached = self._listings.get(sha)
            if cached is not None:
                self._listings.move_to_end(sha)
                return cached
        try:
            out = self._repo.git.ls_tree("-r", "-t", "-l", "-z", "--full-tree", sha, stdout_as_string=False)
        except git.GitCommandError as exc:
            raise self._corrupt(sha, str(exc.stderr or exc)) from None
        listing: Listing = {}
        for record in bytes(out).split(b"\0"):
            if not record:
                continue
            meta, _, raw_path = record.partition(b"\t")
            fields = meta.decode(errors="replace").split()
            if len(fields) != 4:
                raise self._corrupt(
                    fields[2] if len(fields) > 2 else sha, f"cannot read {os.fsdecode(raw_path)}"
                )
            mode, kind, obj, size = fields
            # A blob the clone lacks (a partial clone, a damaged one; git prints its size as BAD)
            # fails only what reads that file, not the whole tree.
            number = -1 if size == "-" else int(size) if size.isdigit() else MISSING
            listing[os.fsdecode(raw_path)] = Entry(mode, kind, obj, number)
        with self._lock:
            self._listings[sha] = listing
            while len(self._listings) > _LISTING_CACHE:
                self._listings.popitem(last=False)
        return listing

    def _corrupt(self, sha: str, detail: str) -> EnvRepoError:
        lines = [line.strip() for line in detail.splitlines() if line.strip() and "stderr:" not in line]
        why = lines[-1].strip("'") if lines else detail
        return EnvRepoError(
            f"env repo {self.path}: object {sha[:12]} of its database is corrupt ({why}); "
            "run `git fsck` there, and restore the object (a fresh clone of the remote has it)"
        )

    def _blob(self, sha: str) -> bytes:
        with self._lock:  # GitPython's cat-file helper serves one request at a time
            return bytes(self._repo.odb.stream(bytes.fromhex(sha)).read())

    def _link_target(self, entry: Entry) -> str:
        target = self._link_targets.get(entry.sha)
        if target is None:
            target = os.fsdecode(self._blob(entry.sha))
            self._link_targets[entry.sha] = target
        return target

    def _resolve_path(self, listing: Listing, path: str) -> tuple[str | None, str]:
        return resolve_path(listing, path, self._link_target)

    def _lookup(self, revision: str, path: str) -> tuple[Listing, str | None, Entry | None]:
        listing = self._listing(self._commit_sha(revision))
        resolved, _why = self._resolve_path(listing, path)
        if resolved is None:
            return listing, None, None
        if resolved == "":
            return listing, "", Entry("040000", "tree", "", -1)
        return listing, resolved, listing.get(resolved)

    def list_dirs(self, revision: str) -> list[str]:
        """Names of the top-level directories at ``revision``, sorted."""
        listing = self._listing(self._commit_sha(revision))
        return sorted(p for p, e in listing.items() if e.type == "tree" and "/" not in p)

    def list_files(self, revision: str, subpath: str = "") -> list[str]:
        """Repo-relative paths of every file (symlinks included) under ``subpath``, sorted."""
        listing = self._listing(self._commit_sha(revision))
        prefix = _clean(subpath)
        prefix = prefix + "/" if prefix else ""
        return sorted(p for p, e in listing.items() if e.type != "tree" and p.startswith(prefix))

    def files_containing(self, revision: str, text: str, subpath: str = "") -> list[str]:
        """Repo-relative paths of the files under ``subpath`` whose content holds ``text``
        (``git grep``: far quicker than reading every blob of a big repo)."""
        sha = self._commit_sha(revision)
        args = ["-l", "-F", "-I", "-e", text, sha]
        if _clean(subpath):
            args += ["--", _clean(subpath)]
        with self._lock:
            try:
                out = str(self._repo.git.grep(*args))
            except git.GitCommandError as err:
                if err.status == 1:  # no file matched
                    return []
                raise self._corrupt(sha, str(err)) from None
        return sorted(line.split(":", 1)[1] for line in out.splitlines() if ":" in line)

    def tree_id(self, revision: str, path: str) -> str | None:
        """The git object id of ``path`` at ``revision`` (equal ids: identical content)."""
        listing = self._listing(self._commit_sha(revision))
        entry = listing.get(_clean(path))
        return entry.sha if entry else None

    def has_symlinks(self, revision: str, subpath: str = "") -> bool:
        """Whether any symlink lies under ``subpath``: its content may live elsewhere."""
        listing = self._listing(self._commit_sha(revision))
        prefix = _clean(subpath)
        prefix = prefix + "/" if prefix else ""
        return any(e.mode == MODE_SYMLINK and p.startswith(prefix) for p, e in listing.items())

    def is_symlink(self, revision: str, path: str) -> bool:
        entry = self._listing(self._commit_sha(revision)).get(_clean(path))
        return entry is not None and entry.mode == MODE_SYMLINK

    def exists(self, revision: str, path: str) -> bool:
        """Whether the tree at ``revision`` has an entry at ``path`` (even one that cannot be read)."""
        return _clean(path) in self._listing(self._commit_sha(revision))

    def is_dir(self, revision: str, path: str) -> bool:
        """Whether ``path`` is a directory at ``revision`` (through in-repo symlinks too)."""
        _listing, resolved, entry = self._lookup(revision, _clean(path))
        return resolved is not None and entry is not None and entry.type == "tree"

    def read_file(self, revision: str, path: str) -> bytes | None:
        """A file's bytes at ``revision``, following in-repo symlinks (a Git LFS pointer read as
        its content when this clone has it); None when there is none."""
        _listing, resolved, entry = self._lookup(revision, _clean(path))
        if entry is None or entry.type != "blob":
            return None
        if entry.size == MISSING:
            raise EnvRepoError(f"env repo {self.path}: {_clean(path)}: {NOT_IN_CLONE}")
        data = self._blob(entry.sha)
        return (self._lfs_content(data) or data) if lfs_pointer(data) else data

    def _lfs_content(self, pointer: bytes) -> bytes | None:
        return lfs_content(Path(self.git_dir), pointer)

    def export_tree(self, revision: str, subpath: str, dest: Path) -> list[Problem]:
        """Write the files under ``subpath`` at ``revision`` into ``dest``, from git objects only.

        Skipped, with a Problem naming the file: symlinks leaving the repository, submodules,
        binary or oversized manifests (.yaml/.yml/.json). Other files are written as they are,
        binary or not (a configMapGenerator's file, a chart's .Files and packaged dependencies),
        but oversized ones and archives outside a chart's charts/ (no tool reads them).
        Symlinks inside the repository are written as the file (or folder) they point to.
        """
        files, problems = self.read_tree(revision, subpath)
        dest.mkdir(parents=True, exist_ok=True)
        made: set[Path] = {dest}
        for rel, data in files.items():
            target = dest / rel
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            target.write_bytes(data)
        return problems

    def read_tree(self, revision: str, subpath: str) -> tuple[dict[str, bytes], list[Problem]]:
        """What ``export_tree`` would write, in memory: {path relative to subpath: bytes}, sorted.

        The same rules as ``export_tree``; for callers that only read the files, creating
        a thousand small files costs more than parsing them.
        """
        listing = self._listing(self._commit_sha(revision))
        sub = _clean(subpath)
        if sub.startswith("../") or sub == "..":
            return {}, [Problem(f"path {subpath} leaves the repository", file=subpath)]
        root, why = self._resolve_path(listing, sub)
        if root is None or (root and listing[root].type != "tree"):
            what = why or "is not a directory"
            return {}, [Problem(f"path {sub} {what} at revision {revision[:12]}", file=sub)]
        problems: list[Problem] = []
        plan: list[Planned] = []
        plan_dir(listing, root, sub, "", self._link_target, self._resolve_path, (root,), plan, problems)
        contents = self._blobs([entry.sha for entry, _shown, _rel in plan])
        files: dict[str, bytes] = {}
        for entry, shown, rel in sorted(plan, key=lambda item: item[2]):
            data, skipped = accepted(shown, contents.get(entry.sha), self._lfs_content, str(self.path))
            if skipped is not None:
                problems.append(skipped)
            if data is not None:
                files[rel] = data
        return files, problems

    def _blobs(self, shas: list[str]) -> dict[str, bytes]:
        """Many blobs in one ``git cat-file --batch`` run: one round trip each is far too slow.
        A blob the clone lacks is not in the result."""
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return {}
        proc = subprocess.run(
            [self._repo.git.GIT_PYTHON_GIT_EXECUTABLE or "git", "--git-dir", self._repo.git_dir,
             "cat-file", "--batch"],
            input="".join(f"{sha}\n" for sha in wanted).encode(),
            capture_output=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise self._corrupt(wanted[0], proc.stderr.decode(errors="replace"))
        out, pos, blobs = proc.stdout, 0, {}
        for sha in wanted:
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            if header[1:] == [b"missing"]:
                pos = end + 1
                continue
            if len(header) != 3:
                raise EnvRepoError(f"env repo {self.path} is missing object {sha}")
            size = int(header[2])
            blobs[sha] = out[end + 1 : end + 1 + size]
            pos = end + 1 + size + 1
        return blobs


def _clean(path: str) -> str:
    """A repo-relative path in canonical form: "" for the root, no ./ or trailing slash."""
    cleaned = posixpath.normpath(path.replace("\\", "/").strip().lstrip("/")) if path.strip() else ""
    return "" if cleaned == "." else cleaned


_MEMO = 4096  # entries of each kept answer (commit pairs, logs)


def _remember(memo: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    memo[key] = value
    memo.move_to_end(key)
    while len(memo) > _MEMO:
        memo.popitem(last=False)
