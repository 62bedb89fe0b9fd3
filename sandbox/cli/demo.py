"""`gitops-sandbox demo`: a sample env repo made into a git repo with a scripted history.

The history tells one story in four commits: a first deploy, a harmless bump, a commit that
is valid for the API server but never becomes healthy, and the fix. Each sample keeps its
script in ``.demo.yaml`` beside its files, as text replacements, so the story stays next to
the manifests it edits and a sample edit that breaks the script fails loudly.

The broken commit asks for ``cpu: "500"`` (500 CPUs, where 500m was meant): no node of any
runtime has that much, so the new pods stay Pending and the Deployment's progress deadline
turns it Degraded. It has to break this way because the local runtime's kwok marks every
scheduled pod Running and Ready whatever its image or probes; only the scheduler, which is
real on both runtimes, can refuse a pod.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox import locks
from sandbox.cli import headless
from sandbox.paths import state_dir

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "sample-repos"
SCRIPT_FILE = ".demo.yaml"
DEFAULT_SAMPLE = "plain"
STEPS = ("first", "bump", "broken", "fix")
STOP_AT = {"fixed": "fix", "broken": "broken"}
BRANCH = "main"
TAG_PREFIX = "demo/"
DEMO_NAME = "gitops-sandbox demo"
DEMO_EMAIL = "demo@gitops-sandbox.invalid"  # .invalid is reserved: it can never reach anyone

# Point git at another repository, or override the fixed identity: dropped from git's env.
_GIT_ENV_DROP = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR",
    "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
)  # fmt: skip
# The user's global git config must not change the scripted repo: no signing prompt, no
# hooks, no global ignore file leaving a manifest out.
_GIT_CONFIG = (
    f"user.name={DEMO_NAME}", f"user.email={DEMO_EMAIL}", "commit.gpgsign=false",
    "core.hooksPath=/dev/null", "core.excludesFile=/dev/null",
)  # fmt: skip


class DemoError(Exception):
    """The demo repo could not be made; the message says why and what to do."""


@dataclass(frozen=True)
class Edit:
    file: str
    old: str
    new: str


@dataclass(frozen=True)
class ScriptedCommit:
    step: str  # one of STEPS
    message: str
    edits: tuple[Edit, ...] = ()

    @property
    def subject(self) -> str:
        return self.message.strip().splitlines()[0]

    @property
    def tag(self) -> str:
        return f"{TAG_PREFIX}{STEPS.index(self.step) + 1}-{self.step}"


@dataclass(frozen=True)
class Script:
    sample: str
    app: str  # the app the broken commit breaks, by the name people see (its short name)
    commits: tuple[ScriptedCommit, ...]


@dataclass(frozen=True)
class MadeCommit:
    step: str
    sha: str
    tag: str
    subject: str


@dataclass(frozen=True)
class DemoRepo:
    path: Path
    sample: str
    app: str
    branch: str
    commits: tuple[MadeCommit, ...]  # all four, oldest first, whether on the branch or not
    head_step: str

    def commit(self, step: str) -> MadeCommit:
        return next(c for c in self.commits if c.step == step)


def samples() -> list[str]:
    """The samples that have a demo script, sorted."""
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(p.name for p in SAMPLES_DIR.iterdir() if (p / SCRIPT_FILE).is_file())


def load_script(sample: str) -> Script:
    folder = SAMPLES_DIR / sample
    path = folder / SCRIPT_FILE
    if not path.is_file():
        known = ", ".join(samples()) or "none"
        where = (
            f"{SAMPLES_DIR}"
            if SAMPLES_DIR.is_dir()
            else f"{SAMPLES_DIR} (missing: run from a source checkout)"
        )
        raise DemoError(f"no sample {sample!r} in {where}; samples: {known}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DemoError(f"{path}: invalid YAML: {exc}") from None
    return _parse_script(sample, path, data)


def _parse_script(sample: str, path: Path, data: Any) -> Script:
    if not isinstance(data, dict) or not isinstance(data.get("app"), str):
        raise DemoError(f"{path}: needs `app:` (the app the broken commit breaks) and `commits:`")
    raw = data.get("commits")
    if not isinstance(raw, list) or [c.get("step") if isinstance(c, dict) else None for c in raw] != list(
        STEPS
    ):
        raise DemoError(f"{path}: `commits:` must be four entries with step {', '.join(STEPS)} in that order")
    commits = []
    for entry in raw:
        message = entry.get("message")
        if not isinstance(message, str) or not message.strip():
            raise DemoError(f"{path}: step {entry['step']} has no message")
        edits = []
        for edit in entry.get("edits") or []:
            if not (
                isinstance(edit, dict) and all(isinstance(edit.get(k), str) for k in ("file", "old", "new"))
            ):
                raise DemoError(f"{path}: step {entry['step']}: each edit needs file, old and new")
            edits.append(Edit(edit["file"], edit["old"], edit["new"]))
        if entry["step"] != "first" and not edits:
            raise DemoError(f"{path}: step {entry['step']} changes nothing")
        commits.append(ScriptedCommit(entry["step"], message.strip() + "\n", tuple(edits)))
    return Script(sample, data["app"], tuple(commits))


def default_dir(sample: str) -> Path:
    """The demo's own folder for a sample, under the state dir: demo/<sample>.

    One folder per sample, made anew each run: the demo's apps belong to one env repo, so a
    second run takes them over instead of meeting an app another repo owns.
    """
    return state_dir() / "demo" / sample


def reset(path: Path) -> None:
    """Remove an earlier run of the demo at ``path`` with its history and settings; refused
    while an agent (the app, or watch) still drives it."""
    from sandbox.agent import settings
    from sandbox.agent.history import path_for_repo

    if not path.exists():
        return
    lock_path = settings.path_for_repo(path).with_suffix(".lock")
    handle, holder = locks.try_own(lock_path, f"pid {os.getpid()} (resetting the demo)")
    if handle is None:
        raise DemoError(f"the demo in {path} is still running ({holder}): quit it first, or pass --dir")
    try:
        shutil.rmtree(path)
        for leftover in (path_for_repo(path), settings.path_for_repo(path)):
            for file in leftover.parent.glob(leftover.name + "*"):
                file.unlink(missing_ok=True)
    finally:
        handle.close()


def create(sample: str, dest: Path, stop_at: str = "fix") -> DemoRepo:
    """Copy ``sample`` to ``dest`` and write its four scripted commits there.

    With ``stop_at="broken"`` the branch ends at the broken commit; the fix is still made,
    reachable from its tag only, so `git merge --ff-only demo/4-fix` lands it later.
    """
    if stop_at not in ("fix", "broken"):
        raise DemoError(f"stop_at must be fix or broken, not {stop_at!r}")
    script = load_script(sample)
    dest = dest.expanduser().resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DemoError(f"{dest} already exists and is not an empty folder; name a new one with --dir")
    if shutil.which("git") is None:
        raise DemoError("git is not on PATH; install git, then run the demo again")
    existed = dest.exists()
    try:
        made = _write(script, dest, stop_at)
    except BaseException:
        # Half a demo is worse than none: the next run with the same --dir must work.
        if existed:
            for child in dest.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        else:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    return DemoRepo(dest, sample, script.app, BRANCH, made, stop_at)


def _write(script: Script, dest: Path, stop_at: str) -> tuple[MadeCommit, ...]:
    shutil.copytree(
        SAMPLES_DIR / script.sample, dest, dirs_exist_ok=True,
        ignore=lambda folder, names: [SCRIPT_FILE] if Path(folder) == SAMPLES_DIR / script.sample else [],
    )  # fmt: skip
    _git(dest, "init", "-q", "-b", BRANCH)
    made = []
    for commit in script.commits:
        for edit in commit.edits:
            _apply(dest, edit, script, commit)
        _git(dest, "add", "-A")
        _git(dest, "commit", "-q", "-F", "-", stdin=commit.message)
        sha = _git(dest, "rev-parse", "HEAD")
        _git(dest, "tag", commit.tag, sha)
        made.append(MadeCommit(commit.step, sha, commit.tag, commit.subject))
    if stop_at == "broken":
        _git(dest, "reset", "-q", "--hard", made[STEPS.index("broken")].sha)
    return tuple(made)


def _apply(root: Path, edit: Edit, script: Script, commit: ScriptedCommit) -> None:
    path = root / edit.file
    where = f"sample {script.sample}, step {commit.step}, {edit.file}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DemoError(f"{where}: cannot read: {exc.strerror}") from None
    count = text.count(edit.old)
    if count != 1:
        raise DemoError(f"{where}: {edit.old!r} occurs {count} times, not once; update {SCRIPT_FILE}")
    path.write_text(text.replace(edit.old, edit.new), encoding="utf-8")


def _git(repo: Path, *args: str, stdin: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROP}
    config = [part for item in _GIT_CONFIG for part in ("-c", item)]
    proc = subprocess.run(
        ["git", *config, *args], cwd=repo, env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise DemoError(f"git {' '.join(args)} failed in {repo}: {detail}")
    return proc.stdout.strip()


# -- the command --------------------------------------------------------------------------------


def describe(demo: DemoRepo) -> str:
    """What was made and what to try with it, for the terminal."""
    on_branch = STEPS[: STEPS.index(demo.head_step) + 1]
    lines = [f"demo env repo: {demo.path}", f"sample {demo.sample}, branch {demo.branch}:"]
    for made in reversed(demo.commits):
        where = "HEAD " if made.step == demo.head_step else ("     " if made.step in on_branch else "(tag)")
        lines.append(f"  {where} {made.sha[:7]}  {made.tag:<14} {made.subject}")
    git = f"git -C {demo.path}"
    tag = {c.step: c.tag for c in demo.commits}
    lines += [
        "",
        f"{tag['broken']} is valid for the API server but never healthy: {demo.app} turns Degraded ~15 s "
        "after it is synced.",
        # The TUI's default keys (remappable, `?` lists them), and git from another terminal:
        # the running sandbox follows the branch, while a second agent would be refused.
        "Try, in the sandbox (default keys, ? lists them):",
    ]
    if demo.head_step == "broken":
        lines += [
            f"  r  roll {demo.app} back to the last healthy commit (Git unchanged; a resumes auto-sync)",
            f"  v  revert {tag['broken']} (a new commit; the agent deploys it)",
            f"or land the fix from another terminal:  {git} merge --ff-only {tag['fix']}",
        ]
    else:
        lines += [
            f'  2  History: select "{demo.commit("broken").subject}", then r rolls back to it '
            f"({demo.app} turns Degraded)",
            "  a  auto-sync on again: back to Git's HEAD, the fix",
            f"or replay the story from another terminal:  {git} reset -q --hard {tag['first']}",
            f"  then {git} merge --ff-only {tag['bump']}  (then {tag['broken']}, then {tag['fix']})",
        ]
    lines.append(f"  more in {demo.path / 'README.md'}")
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    dest = Path(args.dir) if args.dir else default_dir(args.sample)
    try:
        if not args.dir:
            reset(dest)
        demo = create(args.sample, dest, STOP_AT[args.stop_at])
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(describe(demo), flush=True)
    if args.no_open:
        return 0
    return _open(demo.path, args)


def _open(repo_path: Path, args: argparse.Namespace) -> int:
    """The app on the demo repo (the opener the CLI handed over), falling back to the headless
    watch when the app cannot be imported."""
    args.repo = str(repo_path)
    args.branch, args.ascii = None, getattr(args, "ascii", False)
    try:
        return int(args.open_app(args))
    except ImportError as exc:  # the TUI's own dependencies are missing: still show the demo
        print(f"cannot open the TUI ({exc}); following the repo with `watch` instead", file=sys.stderr)
    print("\nfollowing the demo repo (ctrl-c stops; the cluster keeps running):", flush=True)
    return headless.cmd_watch(args)


def add_command(
    sub: argparse._SubParsersAction,
    add_runtime_args: Callable[[argparse.ArgumentParser], None],
    open_app: Callable[[argparse.Namespace], int],
) -> None:
    """The demo command; ``open_app`` opens the app on a repo (the CLI's ``tui`` command)."""
    names = samples()
    parser = sub.add_parser(
        "demo",
        help="make a sample env repo with a scripted history (deploy, bump, broken, fix) and open it",
        description="Copies a sample from sample-repos/ into a new folder, makes it a git repo with four "
        "commits (a first deploy, a bump, a commit that never becomes healthy, its fix), prints the "
        "path, then opens the sandbox on it.",
    )
    parser.add_argument(
        "--sample", default=DEFAULT_SAMPLE, choices=names or None,
        help=f"which sample from sample-repos/ (default {DEFAULT_SAMPLE})",
    )  # fmt: skip
    parser.add_argument("--dir", help="where to make the repo (default: a new folder under the state dir)")
    parser.add_argument(
        "--stop-at", choices=tuple(STOP_AT), default="fixed",
        help="fixed (default): the branch ends at the fix; broken: it ends at the broken commit, to try "
        "revert or rollback (the fix stays reachable as tag demo/4-fix)",
    )  # fmt: skip
    parser.add_argument("--no-open", action="store_true", help="only make the repo and print its path")
    parser.add_argument("--json", action="store_true", help="with the watch fallback: print events as JSON")
    add_runtime_args(parser)
    parser.set_defaults(func=cmd_demo, open_app=open_app)
