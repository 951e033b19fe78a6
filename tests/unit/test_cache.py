import pytest

from chalicelib.cache import DataUnavailable, SnapshotCache
from chalicelib.repository import DynamoDBUnavailable, ScanResult

from .conftest import make_item


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeTable:
    def __init__(self) -> None:
        self.reads = 0
        self.failing = False
        self.items = [make_item("a"), make_item("b")]

    def scan_all(self) -> ScanResult:
        self.reads += 1
        if self.failing:
            raise DynamoDBUnavailable("scan failed: EndpointConnectionError")
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
    assert cache.status()["last_error"] is None


def test_invalidate_forces_the_next_read_to_refresh():
    table, clock = FakeTable(), FakeClock()
    cache = make_cache(table, clock)
    cache.read()
    cache.invalidate()
    assert cache.read().state == "MISS"
    assert table.reads == 2
