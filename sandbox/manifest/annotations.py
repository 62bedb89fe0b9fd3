"""Annotation and label names Flux reads on the objects it applies, which the sandbox honours
as kustomize-controller does (Argo CD's are beside the sync order, in ``waves``)."""

from __future__ import annotations

FLUX_RECONCILE = "kustomize.toolkit.fluxcd.io/reconcile"  # "disabled": Flux leaves the object alone
FLUX_PRUNE = "kustomize.toolkit.fluxcd.io/prune"  # "disabled": never pruned
FLUX_SUBSTITUTE = "kustomize.toolkit.fluxcd.io/substitute"  # "disabled": no post-build substitution
PART_OF = "app.kubernetes.io/part-of"
