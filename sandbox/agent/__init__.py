"""The pull agent: the loop, one controller per app, status, settings, history and revert."""
