"""The problems of one app definition as they are found, each said of its file and app."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.model import Problem

ARTIFACT_FAILED = "ArtifactFailed"  # kustomize-controller's and helm-controller's reason


@dataclass(frozen=True)
class Complaints:
    """Called with a message; keeps it as a Problem naming the definition's file and app."""

    file: str
    app: str
    problems: list[Problem]

    def __call__(self, message: str) -> None:
        self.problems.append(Problem(message, file=self.file, object=self.app))

    def artifact(self, message: str) -> None:
        """A source the app reads cannot be had (not in the repo, not fetched): Flux's controllers
        say ArtifactFailed."""
        self.problems.append(Problem(message, file=self.file, object=self.app, reason=ARTIFACT_FAILED))

    def notice(self, message: str) -> Problem:
        """A Problem of this file and app that does not stop it (said, not kept here)."""
        return Problem(message, file=self.file, object=self.app)
