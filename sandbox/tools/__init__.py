"""The base layer's binaries: the upstream tools the sandbox runs (control plane, kind, kustomize,
helm, ...), from their official releases or built from the Go module proxy into the per-user cache.

It imports nothing of the sandbox above the base layer.
"""
