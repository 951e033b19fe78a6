"""How many user requests a container serves MISS over an hour, with and without warm-up pings.

A MISS is a user waiting for a table scan. Whether pings prevent it depends on
how the cache decides freshness, not on speed, so this runs in simulated time:
a fake clock drives the real cache, users arrive at a steady rate, and pings
arrive every warm-up interval. An hour of traffic takes well under a second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MISS = "MISS"
HOUR_SECONDS = 3600.0
# Any wall-clock-like start will do; the current cache ages snapshots by wall-clock time.
SIMULATION_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class FakeClock:
    """A clock that moves only when told: `clock()` is the simulated time in seconds."""

    def __init__(self, start: float = SIMULATION_START) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> float:
        return self.now

    def set_elapsed(self, seconds: float) -> None:
        self.now = self.start + seconds


@dataclass(frozen=True)
class MissShare:
    """The user requests one container served, how many of them MISS, and the pings it answered."""

    user_requests: int
    user_misses: int
    pings: int

    @property
    def share(self) -> float:
        return self.user_misses / self.user_requests if self.user_requests else 0.0


def timeline(
    duration_seconds: float, users_per_minute: float, ping_interval_seconds: float | None
) -> list[tuple[float, str]]:
    """`(elapsed seconds, "ping" | "user")` in time order.

    The first ping lands at 0 (the warmer is what created a pinged container); users are
    offset by half their interval so no user ties with a ping and the order never depends
    on a sort's tie-break.
    """
    events: list[tuple[float, str]] = []
    if ping_interval_seconds:
        pings = int(duration_seconds // ping_interval_seconds)
        events += [(index * ping_interval_seconds, "ping") for index in range(pings)]
    user_interval = 60.0 / users_per_minute
    users = int(duration_seconds // user_interval)
    events += [((index + 0.5) * user_interval, "user") for index in range(users)]
    return sorted(events)


def simulate(
    clock: FakeClock,
    serve_user: Callable[[], str],
    ping: Callable[[], object] | None,
    *,
    duration_seconds: float = HOUR_SECONDS,
    users_per_minute: float = 60.0,
    ping_interval_seconds: float = 300.0,
) -> MissShare:
    """Runs the timeline: `serve_user()` returns the cache state the user saw, `ping()` answers a warm-up ping.

    With `ping=None` the container is never pinged, and its first user finds it cold.
    """
    requests = misses = pings = 0
    for elapsed, kind in timeline(duration_seconds, users_per_minute, ping_interval_seconds if ping else None):
        clock.set_elapsed(elapsed)
        if kind == "ping" and ping is not None:
            ping()
            pings += 1
        else:
            requests += 1
            misses += serve_user() == MISS
    return MissShare(requests, misses, pings)
