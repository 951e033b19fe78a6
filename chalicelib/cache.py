"""Per-container snapshot cache: TTL with jitter, one refresh at a time, stale-if-error.

A container reads DynamoDB at most once per TTL. When a refresh fails it keeps
serving the last good snapshot (up to a maximum staleness) and waits
`retry_after_seconds` before trying again, so a dead dependency costs one
bounded timeout per interval instead of one per request.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.repository import DynamoDBUnavailable, ScanResult
from chalicelib.snapshot import Snapshot

HIT = "HIT"
MISS = "MISS"
STALE = "STALE"


@dataclass(frozen=True)
class Refresh:
    """What one attempt to read the table did, for logs and metrics."""

    duration_milliseconds: float
    skipped_items: int = 0
    error: str | None = None


class DataUnavailable(Exception):
    """No snapshot fresh enough to serve, and DynamoDB could not be read."""

    def __init__(self, reason: str, retry_after_seconds: int, refresh: Refresh | None) -> None:
        super().__init__(reason)
        self.retry_after_seconds = retry_after_seconds
        self.refresh = refresh


@dataclass(frozen=True)
class CacheRead:
    """A snapshot to serve, how it was obtained, and the refresh that happened on the way, if any."""

    snapshot: Snapshot
    state: str
    refresh: Refresh | None = None


class SnapshotCache:
    """Holds the latest snapshot and decides when to read the table again."""

    def __init__(
        self,
        load: Callable[[], ScanResult],
        *,
        ttl_seconds: float,
        jitter_ratio: float,
        max_stale_seconds: float,
        retry_after_seconds: int,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._load = load
        self._ttl_seconds = ttl_seconds
        self._jitter_ratio = jitter_ratio
        self._max_stale_seconds = max_stale_seconds
        self._retry_after_seconds = retry_after_seconds
        self._clock = clock
        self._rand = rand
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._expires_at = float("-inf")
        self._retry_not_before = float("-inf")
        self._last_error: str | None = None

    def read(self) -> CacheRead:
        """The snapshot to serve now; raises `DataUnavailable` when there is none worth serving."""
        snapshot = self._snapshot
        if snapshot is not None and self._clock() < self._expires_at:
            return CacheRead(snapshot, HIT)
        with self._lock:
            # Another thread may have refreshed while this one waited for the lock.
            snapshot = self._snapshot
            now = self._clock()
            if snapshot is not None and now < self._expires_at:
                return CacheRead(snapshot, HIT)
            if now < self._retry_not_before:
                return self._fallback(now, refresh=None)
            return self._refresh(now)

    def invalidate(self) -> None:
        """Makes the next read refresh, e.g. after a SnapStart restore carried an old snapshot."""
        with self._lock:
            self._expires_at = float("-inf")
            self._retry_not_before = float("-inf")

    def status(self) -> dict[str, object]:
        """A summary for the deep health check."""
        snapshot = self._snapshot
        now = self._clock()
        return {
            "items": len(snapshot) if snapshot is not None else 0,
            "age_seconds": round(now - snapshot.loaded_at, 3) if snapshot is not None else None,
            "fresh": snapshot is not None and now < self._expires_at,
            "last_error": self._last_error,
        }

    def _refresh(self, now: float) -> CacheRead:
        started = time.perf_counter()
        try:
            result = self._load()
        except DynamoDBUnavailable as error:
            self._last_error = str(error)
            self._retry_not_before = self._clock() + self._retry_after_seconds
            refresh = Refresh((time.perf_counter() - started) * 1000, error=str(error))
            return self._fallback(self._clock(), refresh)
        loaded_at = self._clock()
        self._snapshot = Snapshot(result.items, result.skipped_items, loaded_at)
        self._expires_at = loaded_at + self._ttl_seconds * (1 - self._jitter_ratio * self._rand())
        self._last_error = None
        return CacheRead(self._snapshot, MISS, Refresh(result.duration_milliseconds, result.skipped_items))

    def _fallback(self, now: float, refresh: Refresh | None) -> CacheRead:
        snapshot = self._snapshot
        if snapshot is not None and now - snapshot.loaded_at <= self._max_stale_seconds:
            return CacheRead(snapshot, STALE, refresh)
        retry_after = max(1, round(self._retry_not_before - now))
        raise DataUnavailable(self._last_error or "catalogue unavailable", retry_after, refresh)
