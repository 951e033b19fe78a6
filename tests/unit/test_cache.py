import threading
import time

import pytest

from chalicelib.cache import DataUnavailable, SnapshotCache
from chalicelib.repository import DynamoDBUnavailable, ScanResult

from .support import make_item


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeTable:
    def __init__(self) -> None:
        self.reads = 0
        self.failing = False
        self.error: Exception = DynamoDBUnavailable("scan failed: EndpointConnectionError")
        self.items = [make_item("a"), make_item("b")]

    def scan_all(self) -> ScanResult:
        self.reads += 1
        if self.failing:
            raise self.error
        return ScanResult(list(self.items), 1, 1, 3.0)


def make_cache(table, clock, **overrides):
    options = dict(ttl_seconds=300, jitter_ratio=0.1, max_stale_seconds=600, retry_after_seconds=5)
    options.update(overrides)
    return SnapshotCache(table.scan_all, clock=clock, rand=lambda: 1.0, **options)


def test_first_read_misses_then_hits_within_ttl():
    table, clock = FakeTable(), FakeClock()
    cache = make_cache(table, clock)
    first = cache.read()
    assert first.state == "MISS" and first.refresh.skipped_items == 1
    clock.now += 269
    assert cache.read().state == "HIT"
    assert table.reads == 1


def test_jitter_shortens_ttl_by_at_most_the_ratio():
    table, clock = FakeTable(), FakeClock()
    cache = make_cache(table, clock)  # rand() == 1.0: the full 10% is taken off
    cache.read()
    clock.now += 271
    assert cache.read().state == "MISS"


def test_stale_snapshot_served_when_dynamodb_refuses():
    table, clock = FakeTable(), FakeClock()
    cache = make_cache(table, clock)
    cache.read()
    table.failing = True
    clock.now += 301
    read = cache.read()
    assert read.state == "STALE"
    assert read.refresh.error is not None
    assert [item["model_name"] for item in read.snapshot.items.values()] == ["a", "b"]


def test_failed_refresh_is_not_retried_until_retry_after():
    table, clock = FakeTable(), FakeClock()
    cache = make_cache(table, clock)
    cache.read()
    table.failing = True
    clock.now += 301
    cache.read()
    for _ in range(10):
        assert cache.read().state == "STALE"
    assert table.reads == 2
    clock.now += 5
    cache.read()
    assert table.reads == 3


def test_cold_container_answers_unavailable_with_retry_after():
    table, clock = FakeTable(), FakeClock()
    table.failing = True
    cache = make_cache(table, clock, retry_after_seconds=7)
    with pytest.raises(DataUnavailable) as raised:
        cache.read()
    assert raised.value.retry_after_seconds == 7
    clock.now += 3
    with pytest.raises(DataUnavailable) as raised:
        cache.read()
    assert raised.value.retry_after_seconds == 4
    assert table.reads == 1


def test_stale_snapshot_beyond_max_staleness_is_not_served():
    table, clock = FakeTable(), FakeClock()
    cache = make_cache(table, clock, max_stale_seconds=400)
    cache.read()
    table.failing = True
    clock.now += 301
    assert cache.read().state == "STALE"
    clock.now += 100
    with pytest.raises(DataUnavailable):
        cache.read()


def test_recovery_after_dynamodb_returns_needs_no_restart():
    table, clock = FakeTable(), FakeClock()
    cache = make_cache(table, clock)
    cache.read()
    table.failing = True
    clock.now += 301
    assert cache.read().state == "STALE"
    table.failing = False
    table.items.append(make_item("c"))
    clock.now += 5
    read = cache.read()
    assert read.state == "MISS" and len(read.snapshot) == 3
    assert read.refresh.error is None
    assert cache.read().state == "HIT"


def test_invalidate_forces_the_next_read_to_refresh():
    table, clock = FakeTable(), FakeClock()
    cache = make_cache(table, clock)
    cache.read()
    cache.invalidate()
    assert cache.read().state == "MISS"
    assert table.reads == 2


def test_unexpected_refresh_error_serves_stale_backs_off_and_logs_the_trace_once():
    table, clock = FakeTable(), FakeClock()
    reported: list[BaseException] = []
    cache = make_cache(table, clock, on_unexpected_error=reported.append)
    cache.read()
    table.failing, table.error = True, KeyError("a bug, not an outage")
    clock.now += 301
    first = cache.read()
    assert first.state == "STALE" and "KeyError" in first.refresh.error
    for _ in range(5):
        assert cache.read().state == "STALE"
    clock.now += 5
    assert cache.read().state == "STALE"
    assert table.reads == 3  # the first read, then one try per retry interval
    assert [type(error) for error in reported] == [KeyError]


def test_unexpected_refresh_error_on_a_cold_container_is_unavailable_with_retry_after():
    clock = FakeClock()

    def explode() -> ScanResult:
        raise OverflowError("date value out of range")

    cache = SnapshotCache(
        explode, ttl_seconds=300, jitter_ratio=0, max_stale_seconds=600, retry_after_seconds=5, clock=clock
    )
    with pytest.raises(DataUnavailable) as raised:
        cache.read()
    assert raised.value.retry_after_seconds == 5


def test_snapshot_age_is_wall_clock_time_since_it_was_read():
    # A SnapStart snapshot restored weeks after it was taken carries init's data: too old to serve as stale.
    table, clock = FakeTable(), FakeClock()
    cache = make_cache(table, clock, max_stale_seconds=3600)
    cache.read()
    table.failing = True
    clock.now += 21 * 86_400
    with pytest.raises(DataUnavailable):
        cache.read()


def test_a_clock_that_steps_back_expires_the_snapshot_instead_of_freezing_it():
    table, clock = FakeTable(), FakeClock()
    cache = make_cache(table, clock)
    cache.read()
    clock.now -= 3600
    assert cache.read().state == "MISS"
    assert table.reads == 2


def test_refresh_ahead_reads_again_only_what_would_expire_within_the_window():
    table, clock = FakeTable(), FakeClock()
    cache = make_cache(table, clock, jitter_ratio=0)
    cache.read()
    clock.now += 100
    assert cache.read(fresh_for_at_least=150).state == "HIT"  # 200 s of freshness left
    clock.now += 100
    assert cache.read(fresh_for_at_least=150).state == "MISS"  # 100 s left: read again now
    assert table.reads == 2


def test_failed_refresh_ahead_keeps_serving_the_snapshot_still_within_its_ttl():
    table, clock = FakeTable(), FakeClock()
    cache = make_cache(table, clock, jitter_ratio=0)
    cache.read()
    table.failing = True
    clock.now += 200
    read = cache.read(fresh_for_at_least=360)
    assert read.state == "HIT" and read.refresh.error is not None
    assert cache.read().state == "HIT"


@pytest.mark.parametrize("jitter", [0.0, 0.5, 1.0])
def test_a_pinged_container_never_makes_a_user_wait_for_a_scan(jitter):
    from chalicelib.warmup import PING_FRESHNESS_SECONDS, WARMUP_INTERVAL_MINUTES

    table, clock = FakeTable(), FakeClock()
    cache = SnapshotCache(
        table.scan_all,
        ttl_seconds=300,
        jitter_ratio=0.1,
        max_stale_seconds=3600,
        retry_after_seconds=5,
        clock=clock,
        rand=lambda: jitter,
    )
    cache.read(fresh_for_at_least=PING_FRESHNESS_SECONDS)  # the first ping reaches the new container
    interval, start = WARMUP_INTERVAL_MINUTES * 60, clock.now
    user_states = []
    for second in range(1, 3 * 3600):
        clock.now = start + second
        # EventBridge delivers each ping up to a minute late; here, 45 s late every other time.
        if second % interval == (45 if (second // interval) % 2 else 0):
            cache.read(fresh_for_at_least=PING_FRESHNESS_SECONDS)
        if second % 7 == 0:
            user_states.append(cache.read().state)
    assert set(user_states) == {"HIT"}


def test_an_unpinged_container_misses_once_per_ttl():
    table, clock = FakeTable(), FakeClock()
    cache = make_cache(table, clock, jitter_ratio=0)
    states = []
    for _ in range(3600 // 7):
        clock.now += 7
        states.append(cache.read().state)
    assert states.count("MISS") == 12  # one per 300 s TTL over the hour, the first included


def test_a_snapshot_restored_weeks_later_is_never_served_as_stale(monkeypatch):
    # SnapStart restores init's memory on a machine whose monotonic clock knows nothing of the weeks in
    # between; only the wall clock does. With the default clock, those weeks must count.
    import time

    wall = FakeClock()
    monkeypatch.setattr(time, "time", wall)
    table = FakeTable()
    cache = SnapshotCache(
        table.scan_all, ttl_seconds=300, jitter_ratio=0, max_stale_seconds=3600, retry_after_seconds=5
    )
    cache.read()
    table.failing = True
    wall.now += 21 * 86_400  # restored three weeks later; time.monotonic() has not moved
    with pytest.raises(DataUnavailable):
        cache.read()


# --- one deadline for a whole refresh ---------------------------------------------------------

DEADLINE = 0.3
# Scheduling noise on a shared machine; far below what a refresh without a deadline would take here.
SLACK = 1.5


class StalledTable(FakeTable):
    """A table whose reads, once `stalled`, wait until released: a page that never comes."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = False
        self.release = threading.Event()
        self.finished_late = threading.Event()

    def scan_all(self) -> ScanResult:
        if not self.stalled:
            return super().scan_all()
        self.reads += 1
        self.release.wait(30)
        self.finished_late.set()
        return ScanResult([make_item("late")], 0, 1, 3.0)


def deadline_cache(table, clock, **overrides):
    return make_cache(table, clock, refresh_deadline_seconds=DEADLINE, **overrides)


def timed_read(cache):
    started = time.monotonic()
    read = cache.read()
    return read, time.monotonic() - started


def test_a_refresh_past_its_deadline_serves_stale_without_waiting_for_the_read():
    table, clock = StalledTable(), FakeClock()
    cache = deadline_cache(table, clock)
    cache.read()
    table.stalled = True
    clock.now += 301
    try:
        read, seconds = timed_read(cache)
        assert read.state == "STALE"
        assert DEADLINE <= seconds < DEADLINE + SLACK
        assert read.refresh.error == "deadline of 0.3 s exceeded after no progress reported"
        assert read.refresh.table_unreadable
    finally:
        table.release.set()


def test_a_late_result_is_discarded_and_never_served():
    table, clock = StalledTable(), FakeClock()
    cache = deadline_cache(table, clock)
    cache.read()
    table.stalled = True
    clock.now += 301
    assert cache.read().state == "STALE"
    table.release.set()
    assert table.finished_late.wait(5)
    read = cache.read()  # inside the back-off: the late read must not have become the snapshot
    assert read.state == "STALE" and sorted(read.snapshot.encoded) == ["a", "b"]


def test_a_cold_refresh_past_its_deadline_is_unavailable_with_retry_after_then_backs_off():
    table, clock = StalledTable(), FakeClock()
    table.stalled = True
    cache = deadline_cache(table, clock, retry_after_seconds=7)
    try:
        started = time.monotonic()
        with pytest.raises(DataUnavailable) as raised:
            cache.read()
        assert time.monotonic() - started < DEADLINE + SLACK
        assert raised.value.retry_after_seconds == 7
        assert "deadline of 0.3 s exceeded" in raised.value.refresh.error
        for _ in range(5):
            with pytest.raises(DataUnavailable):
                cache.read()
        assert table.reads == 1  # no new read until Retry-After has passed
        clock.now += 7
        with pytest.raises(DataUnavailable):
            cache.read()
        assert table.reads == 2
    finally:
        table.release.set()


def test_a_deadline_is_an_expected_failure_not_a_bug_with_a_stack_trace():
    table, clock = StalledTable(), FakeClock()
    reported: list[BaseException] = []
    cache = deadline_cache(table, clock, on_unexpected_error=reported.append)
    cache.read()
    table.stalled = True
    clock.now += 301
    try:
        assert cache.read().state == "STALE"
    finally:
        table.release.set()
    assert reported == []


def test_a_refresh_within_its_deadline_is_served_and_its_errors_keep_their_kind():
    table, clock = FakeTable(), FakeClock()
    reported: list[BaseException] = []
    cache = deadline_cache(table, clock, on_unexpected_error=reported.append)
    assert cache.read().state == "MISS"
    table.failing = True
    clock.now += 301
    read = cache.read()
    assert read.state == "STALE" and read.refresh.error == "scan failed: EndpointConnectionError"
    assert read.refresh.table_unreadable and reported == []
    table.error = KeyError("a bug")
    clock.now += 5
    read = cache.read()
    assert "unexpected KeyError" in read.refresh.error and not read.refresh.table_unreadable
    assert [type(error) for error in reported] == [KeyError]
