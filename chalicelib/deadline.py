"""One time limit for a whole piece of work, however many calls and retries it makes.

botocore's timeouts and retries bound each call, not a refresh of many pages: fourteen
pages of 0.8 s each outlast a 10 s function, and Lambda then kills the request before
anything records the failure. `run_within` gives the work one deadline. The work runs
on a short-lived daemon thread and the caller waits no longer than the deadline, so even
a page that never comes cannot hold the request. The work itself calls `check` between
steps: once its caller has given up, it stops at the next step instead of reading on,
and what it would have returned is never used.

Standard library only, so the repository, the cache and the health check share it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """The work did not finish within its deadline; what it had done so far is discarded."""

    def __init__(self, seconds: float, progress: str) -> None:
        super().__init__(f"deadline of {seconds:g} s exceeded after {progress}")
        self.seconds = seconds
        self.progress = progress


class Deadline:
    """A point in time after which the work it bounds counts as failed."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._expires_at = clock() + seconds
        self._abandoned = threading.Event()
        # What the work reported last, so a caller that gives up can say how far it got.
        self.progress = "no progress reported"

    def remaining(self) -> float:
        return max(0.0, self._expires_at - self._clock())

    def abandon(self) -> None:
        """The caller has stopped waiting: the work's next `check` fails whatever the clock says."""
        self._abandoned.set()

    def exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(self.seconds, self.progress)

    def check(self, progress: str) -> None:
        """Records `progress`; raises `DeadlineExceeded` once time is up or the caller gave up."""
        self.progress = progress
        if self._abandoned.is_set() or self._clock() >= self._expires_at:
            raise self.exceeded()


# The deadline of the work running on this thread; a thread started by `run_within` sets its own.
_active: ContextVar[Deadline | None] = ContextVar("active_deadline", default=None)


def check(progress: str) -> None:
    """For work that runs step by step: stop here if this thread's work is past its deadline.

    Outside `run_within` there is no deadline and this does nothing.
    """
    deadline = _active.get()
    if deadline is not None:
        deadline.check(progress)


def run_within(deadline: Deadline, work: Callable[[], T]) -> T:
    """`work()`'s result if it finishes before `deadline`; raises what it raised, or `DeadlineExceeded`.

    The calling thread never waits past the deadline. Work still running then is abandoned:
    its thread is a daemon, stops at its next `check`, and its result is dropped.
    """
    finished = threading.Event()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        _active.set(deadline)
        try:
            outcome.append(work())
        except BaseException as error:  # handed to the caller, who decides what it means
            failure.append(error)
        finally:
            finished.set()

    threading.Thread(target=run, name="deadline-worker", daemon=True).start()
    if not finished.wait(deadline.remaining()):
        deadline.abandon()
        raise deadline.exceeded()
    if failure:
        raise failure[0]
    return outcome[0]
