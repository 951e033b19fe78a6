"""Per-container snapshot cache: TTL with jitter, one refresh at a time, stale-if-error.

A container reads DynamoDB at most once per TTL. When a refresh fails, for any
reason, it keeps serving the last good snapshot (up to a maximum staleness) and
waits `retry_after_seconds` before trying again, so a dead dependency costs one
bounded timeout per interval instead of one per request.

A refresh has one deadline for the whole read (chalicelib/deadline.py), not only a
timeout per page. Past it, the refresh has failed like any other: a read that got
some pages in time is thrown away, never served, so no answer is ever a partial
catalogue presented as the whole one.

Between refreshes, a container can ask whether the catalogue changed: every
`version_check_seconds` it reads the catalogue version (chalicelib/catalogue_version.py,
one small GetItem) under its own short deadline, and scans again only when the version
differs from the one read with its snapshot. A check that fails or runs out of time
changes nothing: the snapshot serves on and the TTL still applies, so a check can
never fail a request, and writers who do not bump the version are served within the TTL.

Ages are wall-clock time since the table was read. A SnapStart snapshot can be
restored weeks after it was taken, on a machine whose monotonic clock started
anew; only the wall clock says how old the data really is. An age that comes out
negative (the clock stepped back) counts as expired, never as fresh.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.deadline import Deadline, DeadlineExceeded, run_within
from chalicelib.refresh_record import RefreshRecord
from chalicelib.repository import DynamoDBUnavailable, ScanResult
from chalicelib.snapshot import Snapshot

# The version could not be read: never equal to a version that was, so the next good check rescans.
_UNKNOWN_VERSION = object()

HIT = "HIT"
MISS = "MISS"
STALE = "STALE"


class DataUnavailable(Exception):
    """No snapshot fresh enough to serve, and DynamoDB could not be read."""

    def __init__(self, reason: str, retry_after_seconds: int, refresh: RefreshRecord | None) -> None:
        super().__init__(reason)
        self.retry_after_seconds = retry_after_seconds
        self.refresh = refresh


@dataclass(frozen=True)
class CacheRead:
    """A snapshot to serve, how it was obtained, and the refresh that happened on the way, if any."""

    snapshot: Snapshot
    state: str
    refresh: RefreshRecord | None = None


def _within(now: float, since: float, seconds: float) -> bool:
    """True when `now` is at most `seconds` after `since`, and not before it."""
    return 0 <= now - since < seconds


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
        clock: Callable[[], float] | None = None,
        rand: Callable[[], float] = random.random,
        on_unexpected_error: Callable[[BaseException], None] | None = None,
        refresh_deadline_seconds: float | None = None,
        read_version: Callable[[], str | None] | None = None,
        version_check_seconds: float = 10.0,
        version_check_deadline_seconds: float = 1.0,
        on_version_check_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        """`refresh_deadline_seconds` bounds each whole refresh (the service always sets it); None runs
        `load` on the calling thread with only its own timeouts, as benchmarks of the bare cache do.

        `read_version` returns the catalogue version (None: never bumped); with it, a fresh snapshot
        is checked against the version at most every `version_check_seconds`, each check bounded by
        `version_check_deadline_seconds`. Without it, only the TTL decides. `on_version_check_failure` hears of
        every check that failed or ran out of time: nothing else shows that changes now wait for the TTL."""
        self._load = load
        self._ttl_seconds = ttl_seconds
        self._jitter_ratio = jitter_ratio
        self._max_stale_seconds = max_stale_seconds
        self._retry_after_seconds = retry_after_seconds
        # Wall-clock time unless a test passes its own; looked up now, not when this module was imported.
        self._clock = clock if clock is not None else time.time
        self._rand = rand
        self._on_unexpected_error = on_unexpected_error
        self._refresh_deadline_seconds = refresh_deadline_seconds
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._fresh_seconds = 0.0
        self._failed_at: float | None = None
        self._last_error: str | None = None
        self._read_version = read_version
        self._version_check_seconds = version_check_seconds
        self._version_check_deadline_seconds = version_check_deadline_seconds
        # The version read with the snapshot in hand, when it was last compared, and whether it has moved since.
        self._version: object = None
        self._version_checked_at = -math.inf
        self._version_changed = False
        # Until then, a hit needs no version bookkeeping at all: one comparison on the hot path.
        self._version_quiet_until = -math.inf if read_version is not None else math.inf
        # One check at a time: the other requests of a busy container serve the snapshot meanwhile.
        self._version_lock = threading.Lock()
        self._on_version_check_failure = on_version_check_failure
        self.version_checks = 0
        self.version_check_failures = 0

    def read(self, fresh_for_at_least: float = 0.0) -> CacheRead:
        """The snapshot to serve now; raises `DataUnavailable` when there is none worth serving.

        `fresh_for_at_least` is refresh-ahead: a snapshot that would expire within that many
        seconds is read again now, and the new one stays fresh at least that long. The warm-up
        ping passes its interval, so a pinged container's users never wait for a scan.
        """
        snapshot = self._snapshot
        now = self._clock()
        if (
            snapshot is not None
            and self._is_fresh(snapshot, now + fresh_for_at_least)
            and (self._version_checked_at <= now < self._version_quiet_until or not self._catalogue_changed(now))
        ):
            return CacheRead(snapshot, HIT)
        with self._lock:
            # Another thread may have refreshed while this one waited for the lock.
            snapshot = self._snapshot
            now = self._clock()
            if (
                snapshot is not None
                and self._is_fresh(snapshot, now + fresh_for_at_least)
                and not self._version_changed
            ):
                return CacheRead(snapshot, HIT)
            if self._failed_at is not None and _within(now, self._failed_at, self._retry_after_seconds):
                return self._fallback(now, refresh=None)
            return self._refresh(fresh_for_at_least)

    def invalidate(self) -> None:
        """Makes the next read refresh, e.g. after a SnapStart restore carried an old snapshot."""
        with self._lock:
            self._fresh_seconds = 0.0
            self._failed_at = None

    def summary(self, read: CacheRead) -> dict[str, object]:
        """What the public deep health check says of the snapshot `read` served: counts and ages, never errors."""
        return {
            "items": len(read.snapshot),
            "age_seconds": round(self._clock() - read.snapshot.loaded_at, 3),
            "fresh": read.state != STALE,
        }

    def _is_fresh(self, snapshot: Snapshot, now: float) -> bool:
        return _within(now, snapshot.loaded_at, self._fresh_seconds)

    def _catalogue_changed(self, now: float) -> bool:
        """True once a version check has seen the catalogue version move past the snapshot's.

        Checks at most once per `version_check_seconds`, on whichever request comes first,
        within its own deadline; a failed check counts as "no change seen".
        """
        if self._read_version is None or self._version_changed:
            return self._version_changed
        if _within(now, self._version_checked_at, self._version_check_seconds):
            return False
        if not self._version_lock.acquire(blocking=False):
            return False
        try:
            self._version_checked_at = now
            version = self._checked_version()
            if version is not _UNKNOWN_VERSION and version != self._version:
                self._version_changed = True
                self._version_quiet_until = -math.inf
            else:
                self._version_quiet_until = now + self._version_check_seconds
        finally:
            self._version_lock.release()
        return self._version_changed

    def _checked_version(self) -> object:
        """The catalogue version, read within the check's deadline; `_UNKNOWN_VERSION` when that failed."""
        read_version = self._read_version
        if read_version is None:
            return None
        self.version_checks += 1
        try:
            return run_within(Deadline(self._version_check_deadline_seconds), read_version)
        except Exception as error:  # any failure, a timeout included, only means the TTL decides this time
            self._version_check_failed(error)
            return _UNKNOWN_VERSION

    def _version_check_failed(self, error: BaseException) -> None:
        self.version_check_failures += 1
        if self._on_version_check_failure is not None:
            self._on_version_check_failure(error)

    def _version_then_load(self) -> tuple[object, ScanResult]:
        """The version, then the table: read in this order, a bump made during the scan is seen by the next check."""
        version: object = None
        if self._read_version is not None:
            self.version_checks += 1
            try:
                version = self._read_version()
            except Exception as error:  # the scan still serves; the next good check rescans: nothing equals unknown
                self._version_check_failed(error)
                version = _UNKNOWN_VERSION
        return version, self._load()

    def _refresh(self, fresh_for_at_least: float = 0.0) -> CacheRead:
        started = time.perf_counter()
        try:
            if self._refresh_deadline_seconds is None:
                version, result = self._version_then_load()
            else:
                version, result = run_within(Deadline(self._refresh_deadline_seconds), self._version_then_load)
        except Exception as error:
            # Anything a refresh raises, not only an unreachable table, must leave the last good snapshot serving.
            unexpected = not isinstance(error, (DynamoDBUnavailable, DeadlineExceeded))
            description = f"unexpected {type(error).__name__}: {error}"[:300] if unexpected else str(error)
            if unexpected and self._on_unexpected_error is not None and self._last_error != description:
                # Once per run of identical failures: the stack trace is the same every retry interval.
                self._on_unexpected_error(error)
            self._last_error = description
            self._failed_at = self._clock()
            duration = (time.perf_counter() - started) * 1000
            refresh = RefreshRecord(duration, error=description, table_unreadable=not unexpected)
            return self._fallback(self._failed_at, refresh)
        loaded_at = self._clock()
        self._snapshot = Snapshot(result.items, result.skipped_items, loaded_at)
        self._fresh_seconds = max(self._ttl_seconds * (1 - self._jitter_ratio * self._rand()), fresh_for_at_least)
        self._failed_at = None
        self._last_error = None
        self._version = version
        self._version_checked_at = loaded_at
        self._version_changed = False
        if self._read_version is not None:
            self._version_quiet_until = loaded_at + self._version_check_seconds
        refresh = RefreshRecord(result.duration_milliseconds, result.skipped_items, skipped=result.skipped)
        return CacheRead(self._snapshot, MISS, refresh)

    def _fallback(self, now: float, refresh: RefreshRecord | None) -> CacheRead:
        snapshot = self._snapshot
        if snapshot is not None and self._is_fresh(snapshot, now):
            # A refresh-ahead that failed: the snapshot in hand is still within its TTL.
            return CacheRead(snapshot, HIT, refresh)
        if snapshot is not None and 0 <= now - snapshot.loaded_at <= self._max_stale_seconds:
            return CacheRead(snapshot, STALE, refresh)
        failed_at = self._failed_at if self._failed_at is not None else now
        retry_after = max(1, round(failed_at + self._retry_after_seconds - now))
        raise DataUnavailable(self._last_error or "catalogue unavailable", retry_after, refresh)
