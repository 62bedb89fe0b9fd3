"""Pruning: deleting what an app left from Git, in the plan's order, only where the object says
it is the app's (its tracking annotation) and nothing says to keep it."""

from __future__ import annotations

from sandbox.apply.dryrun import DryRun
from sandbox.apply.inventory import Entry, claimed_by
from sandbox.apply.livecache import LiveCache
from sandbox.apply.outcome import Action, ObjectResult
from sandbox.apply.plan import prune_order
from sandbox.kube.client import Kube
from sandbox.manifest.annotations import FLUX_PRUNE
from sandbox.manifest.shape import annotations_of
from sandbox.manifest.waves import SYNC_OPTIONS, options_of


def prune_leftover(
    kube: Kube,
    cache: LiveCache,
    dry: DryRun,
    app: str,
    leftover: list[Entry],
    prune: bool,
    removing: bool = False,
) -> tuple[list[ObjectResult], list[Entry]]:
    """Delete what the app left behind; ``removing``: the app itself is gone from Git, and
    Argo CD's ``Delete=false`` keeps an object then (``Prune=false`` keeps it always)."""
    results: list[ObjectResult] = []
    still_owned: list[Entry] = []
    for entry in prune_order(leftover):
        resource = kube.resource_for(entry.api_version, entry.key.kind)
        if resource is None:
            continue  # the kind itself is gone (its CRD was pruned): so is the object
        live = cache.get(entry.key) or kube.read(resource, entry.key.namespace, entry.key.name)
        if live is None:
            continue
        if not claimed_by(live, app, entry.key):
            results.append(ObjectResult(
                entry.key, Action.KEPT,
                "not deleted: it lacks this app's tracking annotation (created or taken over by hand?)",
            ))  # fmt: skip
            continue
        kept_by = [f"{o} ({SYNC_OPTIONS})" for o in ("Prune=false", *(("Delete=false",) if removing else ()))
                   if o in options_of(live)]  # fmt: skip
        if annotations_of(live).get(FLUX_PRUNE) == "disabled":
            kept_by.append(f"{FLUX_PRUNE}: disabled")
        if not prune or kept_by:
            why = "prune is off for this app" if not prune else f"the object says {kept_by[0]}"
            results.append(ObjectResult(entry.key, Action.ORPHANED, why))
            still_owned.append(entry)
            continue
        kube.delete(entry.key, resource)
        dry.verified.forget(entry.key)
        results.append(ObjectResult(entry.key, Action.PRUNED))
    return results, still_owned
