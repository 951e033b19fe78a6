"""The app under measurement, whichever shape its tree has.

`make bench AGAINST=<ref>` runs this tree's worker against another commit's
`app.py` and `chalicelib/`. Trees from this session on build one `ScoresService`
and swap it in with `chalicelib.service.configure()`; older ones (9996e3e and
before) kept a repository and a cache as module globals of `chalicelib.service`.
Everything that depends on the difference is here, chosen by feature detection,
so the rest of the benchmark drives both through the handler alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

DYNAMODB_CALLS = "before-call.dynamodb.*"


def _service_module() -> Any:
    from chalicelib import service

    return service


def has_service_object() -> bool:
    """True for trees whose routes use a swappable `ScoresService` (`configure()` exists)."""
    return hasattr(_service_module(), "configure")


def count_dynamodb_calls(counter: Callable[..., None]) -> None:
    """Makes every DynamoDB call the routes make go through a client that reports to `counter`."""
    service = _service_module()
    if has_service_object():
        from chalicelib.config import settings
        from chalicelib.repository import create_client

        client = create_client(settings)
        client.meta.events.register(DYNAMODB_CALLS, counter)
        service.configure(service.ScoresService.from_settings(settings, client=client))
    else:
        # Compatibility with trees before ScoresService: their one repository is a module global whose
        # client is private. Reaching into it is confined to this branch; current trees never need it.
        service.repository._client.meta.events.register(DYNAMODB_CALLS, counter)


def scan_result(items: Sequence[dict[str, Any]]) -> Any:
    """A table scan's result in the tree's own `ScanResult` type (keywords: older trees have fewer fields)."""
    from chalicelib.repository import ScanResult

    return ScanResult(items=list(items), skipped_items=0, pages=1, duration_milliseconds=0.0)


def use_simulated_cache(load: Callable[[], Any], clock: Callable[[], float], rand: Callable[[], float]) -> None:
    """Makes the routes and the ping answer from a fresh cache over `load`, on `clock`, tuned as the tree's settings.

    Each call starts a new, empty cache: a new container, as far as the simulation is concerned.
    """
    service = _service_module()
    from chalicelib.config import settings

    if has_service_object():
        service.configure(service.ScoresService.from_settings(settings, load=load, clock=clock, rand=rand))
        return
    # Older trees read `service.cache` (a module global) at call time, both in routes and in the ping.
    from chalicelib.cache import SnapshotCache

    service.cache = SnapshotCache(
        load,
        ttl_seconds=settings.cache_ttl_seconds,
        jitter_ratio=settings.cache_ttl_jitter_ratio,
        max_stale_seconds=settings.cache_max_stale_seconds,
        retry_after_seconds=settings.cache_retry_after_seconds,
        clock=clock,
        rand=rand,
    )


def cache_settings() -> dict[str, float]:
    """The TTL and jitter the simulation ran with, for the report."""
    from chalicelib.config import settings

    return {"ttl_seconds": settings.cache_ttl_seconds, "jitter_ratio": settings.cache_ttl_jitter_ratio}


def refresh_ahead_seconds() -> float | None:
    """How far ahead a ping refreshes the cache, or None for trees whose ping only reads it."""
    try:
        from chalicelib.warmup import PING_FRESHNESS_SECONDS
    except ImportError:
        return None
    return float(PING_FRESHNESS_SECONDS)
