"""gitops-sandbox engine: cluster runtimes, env repo, render, diff, health, sync, agent.

Nothing below this package imports Textual; the TUI in ``tui/`` observes it.
"""

__version__ = "0.1.0"
