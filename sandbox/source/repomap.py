"""Which repository URLs in Argo CD and Flux objects mean this env repo.

Nothing is fetched from the network: a URL is this repo when it is one of the repo's own
remotes, or when ``sandbox.yaml`` maps it (``repos: {URL: .}``). Any other URL fails the app
that names it, with the line to add.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from sandbox.source.appspec import CONFIG_FILE

_SCP_LIKE = re.compile(r"^(?:[\w.-]+@)?([\w.-]+):(?!//)(.+)$")


def normalize(url: str) -> str:
    """A URL as a key: scheme, user, port-less ``git@host:path`` form and ``.git`` dropped, in
    lower case."""
    text = url.strip()
    scp = _SCP_LIKE.match(text)
    if scp and "://" not in text:
        text = f"{scp.group(1)}/{scp.group(2)}"
    text = re.sub(r"^[a-z+]+://", "", text, flags=re.IGNORECASE)
    text = re.sub(r"^[^@/]+@", "", text)
    text = text.rstrip("/")
    if text.endswith(".git"):
        text = text[: -len(".git")]
    # Lower case throughout, as Argo CD normalises a repo URL: forges (GitHub, GitLab) take
    # owner and repository names in any case, so github.com/CBX0N/x is github.com/cbx0n/x.
    return text.lower()


@dataclass(frozen=True)
class RepoMap:
    """This env repo's URLs (its remotes and those mapped to ``.``) and the branch it follows."""

    urls: frozenset[str] = frozenset()
    others: tuple[tuple[str, str], ...] = ()  # (URL, local path) mapped to another repo
    branch: str = ""
    root: str = ""  # the env repo's folder: mapped paths are relative to it
    default: str = ""  # the branch a merge lands on (EnvRepo.default_branch)

    @classmethod
    def of(
        cls,
        remotes: list[str],
        mapping: dict[str, str],
        branch: str | None,
        root: str = "",
        default: str | None = None,
    ) -> RepoMap:
        mine = {normalize(u) for u in remotes}
        others = []
        for url, path in mapping.items():
            if path.strip().rstrip("/") in (".", ""):
                mine.add(normalize(url))
            else:
                others.append((url, path))
        return cls(frozenset(mine), tuple(others), branch or "", root, default or "")

    def runs(self, ref: str) -> bool:
        """Whether a ref of this repo stands for the revision the sandbox runs: HEAD, the
        watched branch, or the branch a merge lands on. The sandbox runs a branch to show what
        merging it would deploy, as a pull-request preview redirects the apps that follow the
        base branch to the branch under review."""
        return ref in ("", "HEAD", self.branch) or (bool(self.default) and ref == self.default)

    def redirected(self, ref: str, what: str) -> str:
        """The notice for ``what`` following the base branch while another branch runs ("" when
        it follows the one that runs)."""
        if not self.default or ref != self.default or ref == self.branch or not self.branch:
            return ""
        return (f"{what} follows {ref}; the sandbox runs {self.branch} in its place (what merging "
                f"{self.branch} into {ref} would deploy)")  # fmt: skip

    def is_this_repo(self, url: str) -> bool:
        return normalize(url) in self.urls

    def local_repo(self, url: str) -> str | None:
        """The folder of another local repo ``url`` is mapped to (as written in sandbox.yaml)."""
        return next((path for other, path in self.others if normalize(other) == normalize(url)), None)

    def path_of(self, mapped: str) -> str:
        """A mapped folder as an absolute path (relative ones are from the env repo)."""
        return posixpath.normpath(posixpath.join(self.root, mapped)) if self.root else mapped

    def unmapped(self, url: str, what: str) -> str:
        """The message for a URL that is not this repo."""
        if not url:
            return f"{what} is empty: name the env repo's URL"
        return (f"{what} {url} is not this env repo (none of its remotes) and nothing is fetched from the "
                f"network: clone it beside this repo and map it in {CONFIG_FILE} with "
                f"`repos: {{\"{url}\": ../<its clone>}}` (or `.` if it is this repo under another URL)")  # fmt: skip
