"""`RefreshRecord`: what one attempt to read the table did. The cache makes it; observability logs and counts it.

It has a module of its own so that observability can read it without importing the cache: the
logging module stays under everything that logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class SkippedRow(Protocol):
    """A row the refresh left out (`repository.SkippedItem`): its key as stored, and why."""

    @property
    def key(self) -> str: ...

    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class RefreshRecord:
    """What one attempt to read the table did, for logs and metrics."""

    duration_milliseconds: float
    skipped_items: int = 0
    error: str | None = None
    skipped: tuple[SkippedRow, ...] = ()
    # The table could not be read in time (an outage, a refusal, the deadline), as opposed to a bug of ours.
    table_unreadable: bool = False
