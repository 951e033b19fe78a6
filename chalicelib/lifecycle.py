"""Container lifecycle: load the catalogue during init when init happens before traffic, and after a restore.

With provisioned concurrency or SnapStart, Lambda runs init before any request
arrives (`AWS_LAMBDA_INITIALIZATION_TYPE` says which), so loading the snapshot
there means no user ever waits for the cold read. On-demand containers load on
their first request instead: init would cost the same wait, and importing the
app for packaging must never reach DynamoDB.

A SnapStart snapshot is taken after init, so every restored container starts
with init's cache, init's container id and init's random state. The
after-restore hook reloads the catalogue, gives the container its own id (warm-up
reports count distinct ids) and reseeds `random` so TTL jitter differs between
containers. `snapshot_restore_py` exists only in the Lambda runtime; elsewhere no
hook is registered.

Metrics: init writes what it measured as it ends, so none of it waits for the
first request (hours later, under provisioned concurrency) and none of it is
left in a SnapStart snapshot. Anything the batch still holds when a restore
begins was recorded before the snapshot: each restored container would write it
again, stamped with the snapshot's time, perhaps beyond the 14 days CloudWatch
keeps. The hook drops it, then writes what its own reload measured, as init does.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.cache import DataUnavailable
from chalicelib.observability import discard_held_metrics, log_event, logger, write_held_metrics
from chalicelib.service import ScoresService

PRELOADED_INITIALIZATION_TYPES = frozenset({"provisioned-concurrency", "snap-start"})

RestoreHookRegistrar = Callable[[Callable[[], None]], Any]


def _runtime_registrar() -> RestoreHookRegistrar | None:
    try:
        from snapshot_restore_py import register_after_restore
    except ImportError:  # not on Lambda, or a runtime without SnapStart support
        return None
    registrar: RestoreHookRegistrar = register_after_restore
    return registrar


@dataclass(frozen=True)
class Installed:
    """What `install` did in this container, for the tests and the init log line."""

    preloaded: bool
    restore_hook_registered: bool


def load_catalogue(service: ScoresService) -> str:
    """Reads the catalogue now; a failure is left for requests to answer (stale or 503), never raised.

    This runs during init: anything it raised would fail the init, and with provisioned
    concurrency or SnapStart a failed init is a container, or a whole version, that never serves.
    """
    refresh = None
    try:
        read = service.cache.read()
        state, refresh = read.state, read.refresh
    except DataUnavailable as error:
        state, refresh = "UNAVAILABLE", error.refresh
    except Exception:
        logger.exception("catalogue preload failed")
        return "UNAVAILABLE"
    log_event("catalogue preload", {"cache": state}, {}, refresh)
    return state


def refresh_after_restore(service: ScoresService) -> None:
    """Runs once in each container restored from a snapshot, before it serves anything."""
    discard_held_metrics()
    service.renew_identity()
    random.seed()
    service.cache.invalidate()
    load_catalogue(service)
    write_held_metrics()


def install(
    service: ScoresService,
    initialization_type: str | None = None,
    register_after_restore: RestoreHookRegistrar | None = None,
) -> Installed:
    """Registers the restore hook where the runtime has one, preloads if init runs ahead of traffic, writes metrics.

    Both arguments default to what the Lambda runtime provides; tests pass their own.
    """
    registrar = register_after_restore if register_after_restore is not None else _runtime_registrar()
    if registrar is not None:
        registrar(lambda: refresh_after_restore(service))
    if initialization_type is None:
        initialization_type = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
    preload = initialization_type in PRELOADED_INITIALIZATION_TYPES
    if preload:
        load_catalogue(service)
    write_held_metrics()
    return Installed(preloaded=preload, restore_hook_registered=registrar is not None)
