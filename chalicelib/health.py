"""What the deep health check knows about DynamoDB: one small data-plane read per interval per container.

`GET /health?deep=true` is public and can arrive at the stage's whole request rate. Calling
DynamoDB on each one would let anyone spend the account's quota. So a container probes at
most once per `HEALTH_CHECK_INTERVAL_SECONDS`, one probe at a time, bounded by the refresh
deadline; every check in between reads the remembered outcome, and says how old it is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.deadline import Deadline, run_within


@dataclass(frozen=True)
class ProbeOutcome:
    """Whether the last probe could read the table, and when it finished (the probe's clock)."""

    reachable: bool
    checked_at: float


class DependencyProbe:
    """Runs `probe` at most once per interval, single-flight, and remembers how it went."""

    def __init__(
        self,
        probe: Callable[[], None],
        *,
        interval_seconds: float,
        deadline_seconds: float,
        clock: Callable[[], float] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._probe = probe
        self._interval_seconds = interval_seconds
        self._deadline_seconds = deadline_seconds
        # Wall-clock time, as the cache's ages: a SnapStart restore must not inherit init's outcome as recent.
        self._clock = clock if clock is not None else time.time
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self._outcome: ProbeOutcome | None = None

    def now(self) -> float:
        return self._clock()

    def outcome(self) -> ProbeOutcome:
        """The remembered outcome while it is younger than the interval; otherwise probes first."""
        outcome = self._outcome
        if outcome is not None and self._is_recent(outcome, self._clock()):
            return outcome
        with self._lock:
            # A check that waited here while another probed uses that probe's outcome.
            outcome = self._outcome
            if outcome is not None and self._is_recent(outcome, self._clock()):
                return outcome
            try:
                run_within(Deadline(self._deadline_seconds), self._probe)
                reachable = True
            except Exception as error:  # whatever stops the read, the table can't be read now
                reachable = False
                if self._on_failure is not None:
                    self._on_failure(error)
            self._outcome = ProbeOutcome(reachable, self._clock())
            return self._outcome

    def record(self, reachable: bool) -> ProbeOutcome:
        """Remembers what another read of the table just found (a refresh), in place of probing again."""
        # No lock: one reference is replaced, and waiting here for a probe in flight would add its wait to a refresh's.
        outcome = self._outcome = ProbeOutcome(reachable, self._clock())
        return outcome

    def _is_recent(self, outcome: ProbeOutcome, now: float) -> bool:
        # A clock that stepped back makes the outcome old, never recent.
        return 0 <= now - outcome.checked_at < self._interval_seconds
