"""CloudWatch metrics as Embedded Metric Format, batched across requests.

The EMF envelope (`_aws` with its namespace, dimension and one directive per
metric) is about 160 bytes before a single value, so writing one per request
would be most of every log line. Instead each container keeps a batch: counters
are summed and latencies listed (CloudWatch computes percentiles from every
listed value), and the batch is written into the next log line that is due.

A batch is due when it is `max_age_seconds` old, when a metric holds the 100
values EMF allows, or at once when an unusual counter (an error, a miss, a cold
start) arrives, so alarms never wait for routine traffic. (Where it is written
is the caller's choice: `observability` puts it in the unusual request's own
line, or in a line of its own after a routine hit, so every hit's line stays small.) What a container that
is never invoked again still holds is lost: at most `max_age_seconds` of routine
hits. The document's timestamp is its oldest value's, so values land in the
minute they were measured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

MILLISECONDS = "Milliseconds"
COUNT = "Count"
# EMF allows at most 100 values per metric in one document.
MAX_VALUES_PER_METRIC = 100
# Counted on nearly every request; anything else is news an alarm may be waiting for.
ROUTINE_COUNTERS = frozenset({"Requests", "CacheHit"})


class MetricBatch:
    """Metrics of one container, written as one EMF document when due."""

    def __init__(
        self,
        namespace: str,
        service: str,
        *,
        max_age_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._namespace = namespace
        self._service = service
        self._max_age_seconds = max_age_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._counters: dict[str, float] = {}
        self._samples: dict[str, list[float]] = {}
        self._units: dict[str, str] = {}
        self._opened_at: float | None = None
        self._urgent = False

    def count(self, name: str, value: float = 1) -> None:
        """Adds `value` to the counter `name` (unit Count)."""
        with self._lock:
            self._open()
            self._counters[name] = self._counters.get(name, 0) + value
            self._units[name] = COUNT
            if name not in ROUTINE_COUNTERS:
                self._urgent = True

    def sample(self, name: str, value: float, unit: str = MILLISECONDS) -> None:
        """Records one value of `name`, kept individually so CloudWatch can compute percentiles."""
        with self._lock:
            self._open()
            values = self._samples.setdefault(name, [])
            values.append(round(value, 3))
            self._units[name] = unit
            if len(values) >= MAX_VALUES_PER_METRIC:
                self._urgent = True

    def take_if_due(self) -> dict[str, Any] | None:
        """The EMF members to merge into a log line if the batch is due (and then empties it), else None."""
        with self._lock:
            if self._opened_at is None:
                return None
            if not self._urgent and self._clock() - self._opened_at < self._max_age_seconds:
                return None
            return self._take()

    def take(self) -> dict[str, Any] | None:
        """The EMF members for whatever is held now, due or not (a warm-up ping, a test); None when empty."""
        with self._lock:
            return self._take() if self._opened_at is not None else None

    def _open(self) -> None:
        if self._opened_at is None:
            self._opened_at = self._clock()

    def _take(self) -> dict[str, Any]:
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
        self._counters, self._samples, self._units = {}, {}, {}
        self._opened_at, self._urgent = None, False
        return document
