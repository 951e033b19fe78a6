"""Container lifecycle: preload when init runs ahead of traffic, refresh after a SnapStart restore, never fail init."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib import lifecycle, observability
from chalicelib.cache import HIT, MISS
from chalicelib.metrics import MetricBatch
from chalicelib.repository import DynamoDBUnavailable, ScanResult
from chalicelib.service import ScoresService

from .support import MINUTE_START, FakeClock, assert_valid_emf, unit_settings


class CountingLoad:
    """Stands in for the table scan: counts reads, and raises `error` when one is set."""

    def __init__(self) -> None:
        self.reads = 0
        self.error: BaseException | None = None

    def __call__(self) -> ScanResult:
        self.reads += 1
        if self.error is not None:
            raise self.error
        return ScanResult(items=[], skipped_items=0, pages=1, duration_milliseconds=1.0)


def service_over(load: CountingLoad, clock: FakeClock | None = None) -> ScoresService:
    """A service whose cache reads through `load` (and tells time by `clock`), built as the app builds it."""
    return ScoresService.from_settings(unit_settings(), load=load, jitter_ratio=0, clock=clock)


@pytest.fixture
def load() -> CountingLoad:
    return CountingLoad()


@pytest.fixture
def hooks() -> list[Callable[[], None]]:
    return []


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The wall clock of the container's metric batch, which the test moves."""
    clock = FakeClock(MINUTE_START + 20)
    monkeypatch.setattr(observability, "metrics", MetricBatch("LLMScores", "llm-scores", clock=clock))
    return clock


def metric_documents(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    documents = [line for line in lines if "_aws" in line]
    for document in documents:
        assert_valid_emf(document)
    return documents


def test_no_hook_is_registered_outside_the_lambda_runtime(load: CountingLoad) -> None:
    installed = lifecycle.install(service_over(load), initialization_type="on-demand")
    assert installed.restore_hook_registered is False


def test_restored_container_refreshes_the_snapshot_taken_at_init(
    load: CountingLoad, hooks: list[Callable[[], None]]
) -> None:
    service = service_over(load)
    installed = lifecycle.install(service, "snap-start", register_after_restore=hooks.append)
    assert installed.preloaded and installed.restore_hook_registered
    assert service.cache.read().state == HIT  # init loaded the snapshot that gets frozen
    (hook,) = hooks
    hook()
    assert load.reads == 2  # reloaded inside the hook, before any request
    assert service.cache.read().state == HIT


def test_restored_container_gets_its_own_container_id(load: CountingLoad, hooks: list[Callable[[], None]]) -> None:
    service = service_over(load)
    lifecycle.install(service, "snap-start", register_after_restore=hooks.append)
    from_the_snapshot = service.container_id
    hooks[0]()
    assert service.container_id != from_the_snapshot and len(service.container_id) == 32


def test_app_installs_the_lifecycle_explicitly() -> None:
    tree = ast.parse((Path(__file__).resolve().parents[2] / "app.py").read_text())
    calls = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert "lifecycle.install" in calls


@pytest.mark.parametrize(
    ("initialization_type", "reads_expected"),
    [("provisioned-concurrency", 1), ("snap-start", 1), ("on-demand", 0), (None, 0)],
)
def test_catalogue_is_preloaded_only_when_init_runs_ahead_of_traffic(
    load: CountingLoad, monkeypatch: pytest.MonkeyPatch, initialization_type: str | None, reads_expected: int
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    service = service_over(load)
    installed = lifecycle.install(service, initialization_type)
    assert installed.preloaded is bool(reads_expected)
    assert load.reads == reads_expected
    if reads_expected:
        assert service.cache.read().state == HIT
    else:
        assert service.cache.read().state == MISS


@pytest.mark.parametrize(
    "error",
    [
        DynamoDBUnavailable("scan failed: EndpointConnectionError"),
        OverflowError("date value out of range"),
        KeyError("bug"),
        MemoryError(),
    ],
)
def test_preload_never_fails_the_init(load: CountingLoad, error: BaseException) -> None:
    load.error = error
    service = service_over(load)
    assert lifecycle.install(service, "provisioned-concurrency").preloaded is True


def test_preload_survives_even_a_cache_that_raises(load: CountingLoad, monkeypatch: pytest.MonkeyPatch) -> None:
    service = service_over(load)

    def explode() -> None:
        raise RuntimeError("a bug in the cache itself")

    monkeypatch.setattr(service.cache, "read", explode)
    assert lifecycle.load_catalogue(service) == "UNAVAILABLE"


@pytest.mark.parametrize("initialization_type", ["provisioned-concurrency", "snap-start"])
def test_init_writes_the_metrics_it_recorded_before_it_ends(
    load: CountingLoad, clock: FakeClock, log_lines: Callable[[], list[dict[str, Any]]], initialization_type: str
) -> None:
    lifecycle.install(service_over(load, clock), initialization_type)
    (preload,) = metric_documents(log_lines())
    assert preload["DynamoDBLatency"] == [1.0] and preload["_aws"]["Timestamp"] == clock.now * 1000
    # Nothing is left to wait hours for the first request, or to be frozen into a SnapStart snapshot.
    assert observability.metrics.take() == []


def test_a_restore_drops_what_the_snapshot_held_and_writes_what_it_reloaded(
    load: CountingLoad, clock: FakeClock, hooks: list[Callable[[], None]], log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    service = service_over(load, clock)
    lifecycle.install(service, "snap-start", register_after_restore=hooks.append)
    # Today nothing records after install; whatever did would still be in the snapshot, and not this container's.
    observability.metrics.sample("DynamoDBLatency", 99.0)
    clock.now += 15 * 86_400
    hooks[0]()
    from_init, from_restore = metric_documents(log_lines())
    assert from_init["DynamoDBLatency"] == [1.0] and from_init["_aws"]["Timestamp"] == (MINUTE_START + 20) * 1000
    assert from_restore["DynamoDBLatency"] == [1.0] and from_restore["_aws"]["Timestamp"] == clock.now * 1000
    assert observability.metrics.take() == []
