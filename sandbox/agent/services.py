"""What every app controller shares: the repo, the cluster, the history and the agent's hooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sandbox.agent.commands import Command
from sandbox.agent.history import History
from sandbox.agent.ownership import Ownership
from sandbox.agent.waiting import Waiting
from sandbox.apply.dryrun import DryRun
from sandbox.apply.livecache import LiveCache
from sandbox.apply.sync import Syncer
from sandbox.source.appspec import AppSpec
from sandbox.source.envrepo import EnvRepo


@dataclass
class Services:
    """What every controller shares: the repo, the cluster, the history and the agent's hooks."""

    repo: EnvRepo
    repo_path: Path
    cache: LiveCache
    dry: DryRun
    syncer: Syncer
    history: History
    ownership: Ownership
    event: Callable[[str, str, str], None]  # (level, app, message)
    publish: Callable[[], None]
    schedule: Callable[[float, Command], None]  # run a command after a delay (seconds)
    save_settings: Callable[[], None]
    is_namespaced: Callable[[str, str], bool | None]
    waiting_on: Callable[[AppSpec], Waiting]  # the apps it depends on that are not Ready
    finish_awaited: Callable[[AppSpec], None]  # take the other apps' syncs under way to their end
