"""Metrics carry the time they happened (issue 16, item 2), end to end through the app and its log lines.

CloudWatch files every value of an EMF document at the document's `_aws.Timestamp`.
Each test drives the app as Lambda does (`app(event, context)`, and `lifecycle`
for init and SnapStart restores) on a fake wall clock, records what happened
when, reads back every line the container wrote, and checks each metric's count
at each moment: every value lands in exactly one document, stamped no later than
it happened and less than 60 s before.
"""

from __future__ import annotations

import copy
import copyreg
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from app import app
from chalicelib import lifecycle, observability
from chalicelib.config import settings
from chalicelib.metrics import MetricBatch
from chalicelib.repository import ScanResult
from chalicelib.service import ScoresService
from scripts.harness.lambda_events import LambdaContext, api_gateway_event

from .support import MINUTE_START, FakeClock, assert_valid_emf, make_item, unit_settings

DAY_SECONDS = 86_400
LogLines = Callable[[], list[dict[str, Any]]]

# What each kind of event records, as `observability.log_request` and `lifecycle` count it.
PRELOAD = {"DynamoDBLatency": 1}
COLD_MISS = {"Requests": 1, "CacheMiss": 1, "ColdStart": 1, "Latency": 1, "DynamoDBLatency": 1}
HIT = {"Requests": 1, "CacheHit": 1, "Latency": 1}
COLD_HIT = {**HIT, "ColdStart": 1}
CLIENT_ERROR = {"Requests": 1, "ClientErrors": 1, "Latency": 1}


class Table:
    """Stands in for the table scan: one model, read in one page of 1 ms."""

    def __call__(self) -> ScanResult:
        return ScanResult(items=[make_item("gpt-4o")], skipped_items=0, pages=1, duration_milliseconds=1.0)


class Container:
    """One Lambda container's clock, service and metric batch, and a record of what happened in it when."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, use_service: Callable[[ScoresService], ScoresService]) -> None:
        self.clock = FakeClock(MINUTE_START + 20)
        self.table = Table()
        self.service = use_service(
            ScoresService.from_settings(unit_settings(), load=self.table, jitter_ratio=0, clock=self.clock)
        )
        self.metrics = MetricBatch(settings.metrics_namespace, settings.service_name, clock=self.clock)
        monkeypatch.setattr(observability, "metrics", self.metrics)
        monkeypatch.setattr(observability, "_cold_start", True)  # a container that has served nothing yet
        self.happened: list[tuple[float, dict[str, int]]] = []

    def get(self, path: str, query: dict[str, str | list[str]] | None = None) -> dict[str, Any]:
        response: dict[str, Any] = app(api_gateway_event(path, query), LambdaContext())
        return response

    def record(self, counts: dict[str, int]) -> None:
        """Notes that `counts` of each metric happened now."""
        self.happened.append((self.clock.now, counts))


class ContainerSnapshot:
    """Init's memory as SnapStart freezes it; `restore()` puts an identical copy back, as each restore starts.

    The objects stay the same ones (the hook registered during init holds them); their contents are copied.
    What lives outside the container is shared, not copied: the wall clock, the table and the DynamoDB client.
    Locks come back released: Lambda snapshots between invocations, when no request holds one.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, container: Container) -> None:
        monkeypatch.setitem(copyreg.dispatch_table, type(threading.Lock()), lambda _: (threading.Lock, ()))
        self._monkeypatch = monkeypatch
        self._frozen_objects: Sequence[object] = (container.service, container.metrics)
        self._outside: Sequence[object] = (container.clock, container.table, container.service.repository)
        self._frozen_state = self._copy([vars(frozen) for frozen in self._frozen_objects])
        self._cold_start = observability._cold_start

    def _copy(self, state: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return copy.deepcopy(state, {id(outside): outside for outside in self._outside})

    def restore(self) -> None:
        for frozen, state in zip(self._frozen_objects, self._copy(self._frozen_state), strict=True):
            vars(frozen).clear()
            vars(frozen).update(state)
        self._monkeypatch.setattr(observability, "_cold_start", self._cold_start)


def metric_documents(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    documents = [line for line in lines if "_aws" in line]
    for document in documents:
        assert_valid_emf(document)
    return documents


def assert_filed_when_they_happened(lines: list[dict[str, Any]], happened: list[tuple[float, dict[str, int]]]) -> None:
    """Each metric's values, counted per moment, are exactly what happened then, filed within [then - 60 s, then].

    The tests' moments are at least a minute apart, so a stamp can belong to one moment only.
    """
    moments = sorted({moment for moment, _ in happened})
    assert all(later - earlier >= 60 for earlier, later in itertools.pairwise(moments))
    expected: Counter[tuple[str, float]] = Counter()
    for moment, counts in happened:
        for name, count in counts.items():
            expected[name, moment] += count
    filed: Counter[tuple[str, float]] = Counter()
    for document in metric_documents(lines):
        stamp = document["_aws"]["Timestamp"] / 1000
        candidates = [moment for moment in moments if moment - 60 < stamp <= moment]
        assert len(candidates) == 1, f"stamped {stamp}: no value happened in the minute after it"
        for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = document[metric["Name"]]
            filed[metric["Name"], candidates[0]] += len(value) if isinstance(value, list) else value
    assert filed == expected


@pytest.fixture
def container(monkeypatch: pytest.MonkeyPatch, use_service: Callable[[ScoresService], ScoresService]) -> Container:
    return Container(monkeypatch, use_service)


def test_after_ten_idle_minutes_a_client_error_is_stamped_when_it_happened(
    container: Container, log_lines: LogLines
) -> None:
    assert container.get("/llms")["headers"]["X-Cache"] == "MISS"
    container.record(COLD_MISS)
    container.clock.now += 120
    assert container.get("/llms")["headers"]["X-Cache"] == "HIT"  # routine: its metrics wait for a due line
    container.record(HIT)
    container.clock.now += 600
    assert container.get("/llms", {"limit": "0"})["statusCode"] == 400
    container.record(CLIENT_ERROR)
    lines = log_lines()
    assert_filed_when_they_happened(lines, container.happened)
    client_error = lines[-1]
    assert client_error["status"] == 400 and client_error["_aws"]["Timestamp"] == container.clock.now * 1000
    assert all("_aws" not in line for line in lines if line.get("cache") == "HIT")  # a hit's line stays small


def test_provisioned_concurrency_init_is_written_at_init_and_a_first_request_hours_later_at_its_own_time(
    container: Container, log_lines: LogLines
) -> None:
    assert lifecycle.install(container.service, "provisioned-concurrency").preloaded
    container.record(PRELOAD)
    written_by_init = metric_documents(log_lines())
    container.clock.now += 3 * 3600
    assert container.get("/llms")["headers"]["X-Cache"] == "MISS"  # the preload expired long ago
    container.record(COLD_MISS)
    assert_filed_when_they_happened(log_lines(), container.happened)
    # And init's value was written during init: nothing waited for the first request.
    assert [document["DynamoDBLatency"] for document in written_by_init] == [[1.0]]


def test_two_restores_from_one_snapshot_write_init_once_and_each_restore_at_its_own_time(
    container: Container, log_lines: LogLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks: list[Callable[[], None]] = []
    lifecycle.install(container.service, "snap-start", register_after_restore=hooks.append)
    container.record(PRELOAD)  # written once, by the init that Lambda snapshots
    snapshot = ContainerSnapshot(monkeypatch, container)
    snapshot_taken = container.clock.now
    container_ids = set()
    for restored_after in (15 * DAY_SECONDS, 15 * DAY_SECONDS + 3600):
        snapshot.restore()
        container.clock.now = snapshot_taken + restored_after
        (after_restore,) = hooks
        after_restore()
        container.record(PRELOAD)  # the hook's own reload
        assert container.get("/llms")["headers"]["X-Cache"] == "HIT"
        container.record(COLD_HIT)
        container_ids.add(container.service.container_id)
    assert len(container_ids) == 2
    lines = log_lines()
    assert_filed_when_they_happened(lines, container.happened)
    stamps = [document["_aws"]["Timestamp"] / 1000 for document in metric_documents(lines)]
    assert min(stamps) == snapshot_taken and stamps.count(snapshot_taken) == 1
