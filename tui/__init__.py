"""The Textual terminal app of gitops-sandbox: it observes agent snapshots and sends commands.

Nothing under ``sandbox/`` imports this package; the CLI imports it lazily.
"""
