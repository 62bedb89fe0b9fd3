"""Which app owns which object: the first app that applied it, as its tracking annotation says.

Two apps that render the same object (two overlays of one base) must not take it from each
other on every sync. The live object's annotation is the truth across restarts and agents;
this registry adds what the annotation cannot say yet (an object applied a moment ago, before
the watch delivers it) and the file each owner renders it from, for messages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sandbox.apply.desired import DesiredSet
from sandbox.apply.inventory import Claim, tracking_app
from sandbox.model import Manifest, ObjectKey

SourceOf = Callable[[str, ObjectKey], str]  # (app, key) -> the file that app renders it from


class Ownership:
    def __init__(self, source_of: SourceOf) -> None:
        self._claims: dict[ObjectKey, Claim] = {}
        self._source_of = source_of
        self._lock = threading.Lock()

    def owner_of(self, key: ObjectKey, live: Manifest | None) -> Claim | None:
        app = tracking_app(live)
        with self._lock:
            claim = self._claims.get(key)
        if app is None:
            return claim
        if claim is not None and claim.app == app:
            return claim
        return Claim(app, self._source_of(app, key))

    def take(self, desired: DesiredSet, keys: set[ObjectKey], only: bool = False) -> None:
        """The app applied these objects: claim those nobody claimed first. ``only``: these are
        all it holds now (a sync succeeded), so what it pruned or dropped is free again."""
        with self._lock:
            if only:
                for key in [k for k, c in self._claims.items() if c.app == desired.app and k not in keys]:
                    del self._claims[key]
            for key in keys:
                if key not in self._claims and key in desired.objects:
                    self._claims[key] = Claim(desired.app, desired.objects[key].source)

    def release(self, app: str) -> None:
        """The app is gone (pruned): its objects belong to nobody now."""
        with self._lock:
            for key in [k for k, c in self._claims.items() if c.app == app]:
                del self._claims[key]
