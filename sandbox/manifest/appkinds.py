"""The kinds that define apps: Argo CD's and Flux's. Read as definitions, never applied as objects."""

from __future__ import annotations

ARGO_APP_KINDS = ("Application", "ApplicationSet")
FLUX_APP_KINDS = ("Kustomization", "HelmRelease")  # kustomize-controller's and helm-controller's
APP_KINDS = (*ARGO_APP_KINDS, *FLUX_APP_KINDS)
