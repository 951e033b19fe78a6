"""CloudWatch metrics as Embedded Metric Format, batched across requests.

The EMF envelope (`_aws` with its namespace, dimension and one directive per
metric) is about 160 bytes before a single value, so writing one per request
would be most of every log line. Instead each container keeps a batch: counters
are summed and latencies listed (CloudWatch computes percentiles from every
listed value), and the batch is written into the next log line that is due.

CloudWatch files every value of a document at the document's `_aws.Timestamp`,
so a batch never outlives the calendar minute its first value arrived in: a
value from a later minute (or from before the batch opened, if the clock steps
back) closes it and opens the next one. A document is stamped with its first
value's time, so each value is filed at most a minute before it happened and
never after, however long the container idles between requests. Closed
documents wait for the next take, which may therefore return several; EMF
allows one `_aws` per log line, so each needs a line of its own.

A batch is due when it is `max_age_seconds` old, at once when an unusual counter
(an error, a miss, a cold start) arrives, so alarms never wait for routine
traffic, and at once when it is closed: by the minute, or because a metric holds
the 100 values EMF allows. (Where it is written is the caller's choice:
`observability` puts it in the unusual request's own line, or in a line of its
own after a routine hit, so every hit's line stays small.) What a container that
is never invoked again still holds is lost: at most `max_age_seconds` of routine
hits.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

MILLISECONDS = "Milliseconds"
COUNT = "Count"
# EMF allows at most 100 values per metric in one document.
MAX_VALUES_PER_METRIC = 100
# Counted on nearly every request; anything else is news an alarm may be waiting for.
ROUTINE_COUNTERS = frozenset({"Requests", "CacheHit"})
SECONDS_PER_MINUTE = 60
NOTHING_DUE: Sequence[dict[str, Any]] = ()


class MetricBatch:
    """Metrics of one container, written as EMF documents (one per calendar minute at most) when due."""

    def __init__(
        self,
        namespace: str,
        service: str,
        *,
        max_age_seconds: float = 1.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._namespace = namespace
        self._service = service
        self._max_age_seconds = max_age_seconds
        # Wall-clock time unless a test passes its own; looked up now, not when this module was imported.
        self._clock = clock if clock is not None else time.time
        self._lock = threading.Lock()
        self._counters: dict[str, float] = {}
        self._samples: dict[str, list[float]] = {}
        self._units: dict[str, str] = {}
        self._opened_at: float | None = None
        # The open document takes values from its first one's time to the end of that minute: one range check
        # per value. The range is empty while no document is open.
        self._accepts_from = math.inf
        self._minute_ends_at = -math.inf
        self._urgent = False
        self._closed: list[dict[str, Any]] = []

    def count(self, name: str, value: float = 1) -> None:
        """Adds `value` to the counter `name` (unit Count)."""
        with self._lock:
            now = self._clock()
            if not self._accepts_from <= now < self._minute_ends_at:
                self._open_at(now)
            self._counters[name] = self._counters.get(name, 0) + value
            self._units[name] = COUNT
            if name not in ROUTINE_COUNTERS:
                self._urgent = True

    def sample(self, name: str, value: float, unit: str = MILLISECONDS) -> None:
        """Records one value of `name`, kept individually so CloudWatch can compute percentiles."""
        with self._lock:
            now = self._clock()
            if not self._accepts_from <= now < self._minute_ends_at:
                self._open_at(now)
            values = self._samples.setdefault(name, [])
            values.append(round(value, 3))
            self._units[name] = unit
            if len(values) >= MAX_VALUES_PER_METRIC:
                # Closed, not merely due: no document exceeds EMF's limit, even if another value comes first.
                self._close()

    def take_if_due(self) -> Sequence[dict[str, Any]]:
        """The EMF documents that are due, oldest first (and then forgets them); empty when none is."""
        with self._lock:
            opened_at = self._opened_at
            if opened_at is not None and (self._urgent or self._clock() - opened_at >= self._max_age_seconds):
                self._close()
            if not self._closed:
                return NOTHING_DUE
            documents, self._closed = self._closed, []
            return documents

    def take(self) -> list[dict[str, Any]]:
        """Every EMF document held now, due or not, oldest first (the end of init or of a restore, a test)."""
        with self._lock:
            if self._opened_at is not None:
                self._close()
            documents, self._closed = self._closed, []
            return documents

    def discard(self) -> None:
        """Forgets everything held, unwritten: after a SnapStart restore, it is the snapshot's, not this container's."""
        with self._lock:
            self._empty_open_document()
            self._closed = []

    def _open_at(self, now: float) -> None:
        if self._opened_at is not None:
            # Under the open document's stamp, `now`'s value would be filed in another minute, or after it happened.
            self._close()
        self._opened_at = self._accepts_from = now
        self._minute_ends_at = (now // SECONDS_PER_MINUTE + 1) * SECONDS_PER_MINUTE

    def _close(self) -> None:
        assert self._opened_at is not None
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(self._opened_at * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._namespace,
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": name, "Unit": unit} for name, unit in self._units.items()],
                    }
                ],
            },
            "service": self._service,
        }
        document.update(self._counters)
        document.update(self._samples)
        self._closed.append(document)
        self._empty_open_document()

    def _empty_open_document(self) -> None:
        self._counters, self._samples, self._units = {}, {}, {}
        self._opened_at, self._urgent = None, False
        self._accepts_from, self._minute_ends_at = math.inf, -math.inf
