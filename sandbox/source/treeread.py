"""Which files a tree read takes from a commit, and what each one becomes: the rules of
EnvRepo.read_tree, apart from reading git.

Pure: a commit's listing goes in, a plan of blobs to read comes out (symlinks inside the
repository followed, anything unsafe or unrenderable left out with a Problem saying why), and
each blob read is then accepted as text or skipped, saying why.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from sandbox.manifest.suffixes import MANIFEST_SUFFIXES as SUFFIXES
from sandbox.model import Problem

MiB = 1024 * 1024
MAX_FILE_MIB = 64  # vendored CRD bundles run to several MiB; the ceiling only stops accidents
MAX_FILE_VARIABLE = "GITOPS_SANDBOX_MAX_FILE_MIB"
BINARY_SNIFF_BYTES = 8 * 1024
MANIFEST_SUFFIXES = frozenset(SUFFIXES)
ARCHIVE_SUFFIXES = (".tgz", ".tar.gz")
MODE_SYMLINK = "120000"
SUBMODULE = "Submodule"  # the reason of a submodule skipped: Flux reads none by default
MAX_DIR_LINK_DEPTH = 8
MAX_SYMLINK_HOPS = 40  # as Linux's MAXSYMLINKS
MISSING = -2  # the size of a blob the clone lacks (git prints it as BAD)


class Entry(NamedTuple):
    mode: str
    type: str  # "blob", "tree" or "commit" (a submodule)
    sha: str
    size: int  # -1 for trees and submodules, MISSING for a blob the clone lacks


Listing = dict[str, Entry]
Planned = tuple[Entry, str, str]  # (entry, repo path shown to users, output path)
ResolvePath = Callable[[Listing, str], tuple[str | None, str]]  # -> (resolved path, why not)

NOT_IN_CLONE = (
    "its content cannot be read from this clone's object database (missing, as in a partial clone, or corrupt: "
    "`git fsck` says which); a fresh clone of the remote has it"
)
_LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\n"


def plan_dir(
    listing: Listing, tree: str, shown: str, out: str, link_target: Callable[[Entry], str],
    resolve_path: ResolvePath, expanding: tuple[str, ...], plan: list[Planned], problems: list[Problem],
) -> None:  # fmt: skip
    """Choose the blobs under ``tree`` to read, into ``plan``; what is left out, into ``problems``."""
    prefix = tree + "/" if tree else ""
    for path, entry in listing.items():
        if entry.type == "tree" or not path.startswith(prefix):
            continue
        rel = path[len(prefix) :]
        shown_path = f"{shown}/{rel}" if shown else rel
        out_path = f"{out}/{rel}" if out else rel
        if any(part in ("", ".", "..", ".git") for part in rel.split("/")):
            # git refuses such paths; a hand-made tree could still carry one.
            problems.append(Problem("unsafe path in the git tree; skipped", file=shown_path))
            continue
        if entry.type == "commit":
            problems.append(Problem("git submodule: its files are another repository's, which the sandbox does not "
                                    "read; skipped", file=shown_path, reason=SUBMODULE))  # fmt: skip
            continue
        if entry.mode != MODE_SYMLINK:
            _plan_blob(entry, shown_path, out_path, problems, plan)
            continue
        target = link_target(entry)
        resolved, why = resolve_path(listing, path)
        if resolved is None:
            problems.append(Problem(f"symlink to {target} {why}; skipped", file=shown_path))
            continue
        final = listing.get(resolved) if resolved else Entry("040000", "tree", "", -1)
        assert final is not None
        if final.type == "blob":
            _plan_blob(final, shown_path, out_path, problems, plan)
        elif final.type == "commit":
            problems.append(Problem(f"symlink to submodule {resolved}; skipped", file=shown_path))
        elif resolved in expanding or path.startswith(resolved + "/") or resolved == "":
            problems.append(Problem(f"symlink to {target} makes a directory loop; skipped", file=shown_path))
        elif len(expanding) > MAX_DIR_LINK_DEPTH:
            problems.append(Problem(f"symlink to {target} nests too deep; skipped", file=shown_path))
        else:
            plan_dir(listing, resolved, shown_path, out_path, link_target, resolve_path, (*expanding, resolved),
                     plan, problems)  # fmt: skip


def accepted(
    shown: str, data: bytes | None, lfs_content: Callable[[bytes], bytes | None], repo: str
) -> tuple[bytes | None, Problem | None]:
    """A blob read as the file it is: (its bytes, as UTF-8 where it was UTF-16 text), or None
    and, where it could have been a manifest, why it is skipped."""
    if data is None:
        return None, Problem(f"{NOT_IN_CLONE}; skipped", file=shown)
    if lfs_pointer(data):
        stored = lfs_content(data)
        if stored is None:
            return None, Problem(
                "a Git LFS pointer whose content is not fetched into this clone: run `git lfs pull` "
                f"in {repo} (the sandbox reads the content from .git/lfs); skipped", file=shown,
            )  # fmt: skip
        data = stored
    if not _is_manifest(shown):
        # Read by the tools as it is, binary or not: a configMapGenerator's file (kustomize puts
        # it in binaryData), a chart's .Files, a packaged dependency (charts/*.tgz).
        return data, None
    data = _as_utf8(data)
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return None, Problem("binary file (NUL byte in its first 8 KiB); skipped", file=shown)
    return data, None


def lfs_content(git_dir: Path, pointer: bytes) -> bytes | None:
    """The content a Git LFS pointer stands for, from the clone's LFS store (where `git lfs
    pull` puts it), checked against its oid and size; None when it is not there."""
    fields = dict(
        line.split(" ", 1) for line in pointer.decode("ascii", "replace").splitlines() if " " in line
    )
    oid = fields.get("oid", "").removeprefix("sha256:")
    if len(oid) != 64 or any(c not in "0123456789abcdef" for c in oid):
        return None
    try:
        data = (git_dir / "lfs" / "objects" / oid[:2] / oid[2:4] / oid).read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != oid or str(len(data)) != fields.get("size", "").strip():
        return None
    return data


def lfs_pointer(data: bytes) -> bool:
    """Whether a blob is a Git LFS pointer (a small text naming the content's oid and size)."""
    return data.startswith(_LFS_POINTER) and len(data) < 1024 and b"\noid sha256:" in data


def _plan_blob(entry: Entry, shown: str, out: str, problems: list[Problem], plan: list[Planned]) -> None:
    name = shown.rsplit("/", 1)[-1].lower()
    if name.endswith(ARCHIVE_SUFFIXES) and not _packaged_subchart(shown):
        return  # an archive is never a manifest; helm reads only its charts/ folder's
    limit = max_file_mib()
    if entry.size > limit * MiB:
        if _is_manifest(name):
            problems.append(Problem(
                f"file is {entry.size / MiB:.1f} MiB, over the {limit:g} MiB limit; skipped "
                f"(raise the limit with {MAX_FILE_VARIABLE}=<MiB>)", file=shown,
            ))  # fmt: skip
        return
    plan.append((entry, shown, out))


def max_file_mib() -> float:
    """The largest file read from the env repo, in MiB: ``$GITOPS_SANDBOX_MAX_FILE_MIB`` or 64."""
    raw = os.environ.get(MAX_FILE_VARIABLE, "")
    try:
        value = float(raw) if raw else MAX_FILE_MIB
    except ValueError:
        return MAX_FILE_MIB
    return value if value > 0 else MAX_FILE_MIB


def _packaged_subchart(shown: str) -> bool:
    """A chart's packaged dependency (``charts/<name>-<version>.tgz``), which helm reads as it is."""
    parts = shown.split("/")
    return parts[-1].lower().endswith(".tgz") and len(parts) >= 2 and parts[-2] == "charts"


def _is_manifest(name: str) -> bool:
    return posixpath.splitext(name.lower())[1] in MANIFEST_SUFFIXES


# Byte-order marks of the UTF-16 text kubectl reads (cli-runtime decodes by the BOM, as
# kustomize does); UTF-32 it refuses, and so it stays bytes here (read as binary).
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _as_utf8(data: bytes) -> bytes:
    """UTF-16 text with its BOM (as an editor on Windows saves YAML) as UTF-8; other bytes as
    they are. What does not decode stays as it is, and reads as binary."""
    if data.startswith(_UTF16_BOMS) and not data.startswith(codecs.BOM_UTF32_LE):
        try:
            return data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            return data
    return data


def resolve_path(listing: Listing, path: str, link_target: Callable[[Entry], str]) -> tuple[str | None, str]:
    """Follow symlinks through ``path`` inside the tree: (resolved path, "") or (None, why)."""
    resolved: list[str] = []
    pending = path.split("/")
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return None, "leaves the repository"
            resolved.pop()
            continue
        entry = listing.get("/".join([*resolved, part]))
        if entry is None:
            return None, "does not exist"
        if entry.mode == MODE_SYMLINK:
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                return None, "is a symlink loop"
            target = link_target(entry)
            if target.startswith("/"):
                return None, "leaves the repository"
            pending = target.split("/") + pending
            continue
        if pending and entry.type != "tree":
            return None, "does not exist"
        resolved.append(part)
    return "/".join(resolved), ""
