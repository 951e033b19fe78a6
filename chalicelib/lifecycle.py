"""Container lifecycle: load the catalogue during init when init happens before traffic, and after a restore.

With provisioned concurrency or SnapStart, Lambda runs init before any request
arrives (`AWS_LAMBDA_INITIALIZATION_TYPE` says which), so loading the snapshot
there means no user ever waits for the cold read. On-demand containers load on
their first request instead: init would cost the same wait, and importing the
app for packaging must never reach DynamoDB.

A SnapStart snapshot is taken after init, so every restored container starts
with init's cache (and its clock reading), init's container id and init's random
state. The after-restore hook reloads the catalogue, gives the container its own
id (warm-up reports count distinct ids) and reseeds `random` so TTL jitter
differs between containers. `snapshot_restore_py` exists only in the Lambda
runtime; elsewhere no hook is registered.
"""

from __future__ import annotations

import os
import random
import uuid

from chalicelib import service
from chalicelib.cache import DataUnavailable

try:
    from snapshot_restore_py import register_after_restore
except ImportError:  # not on Lambda, or a runtime without SnapStart support
    register_after_restore = None

PRELOADED_INITIALIZATION_TYPES = frozenset({"provisioned-concurrency", "snap-start"})


def load_catalogue() -> str:
    """Reads the catalogue now; a failure is left for requests to answer (stale or 503), never raised."""
    try:
        return service.cache.read().state
    except DataUnavailable:
        return "UNAVAILABLE"


def preload_during_init(initialization_type: str | None) -> bool:
    """Loads the catalogue if this init runs ahead of traffic; returns whether it did."""
    if initialization_type not in PRELOADED_INITIALIZATION_TYPES:
        return False
    load_catalogue()
    return True


def refresh_after_restore() -> None:
    """Runs once in each container restored from a snapshot, before it serves anything."""
    service.CONTAINER_ID = uuid.uuid4().hex
    random.seed()
    service.cache.invalidate()
    load_catalogue()


HOOK_REGISTERED = register_after_restore is not None
if register_after_restore is not None:
    register_after_restore(refresh_after_restore)
PRELOADED = preload_during_init(os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"))
