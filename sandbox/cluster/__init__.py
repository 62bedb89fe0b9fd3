"""Cluster runtimes behind one small interface (see ``runtime.Runtime``); by name in ``runtimes``."""
