"""The base of the engine: what a manifest is and how it reads. Imports nothing of ours above it."""
