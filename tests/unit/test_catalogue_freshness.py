"""A reviewed data change reaches a warm container within seconds, for one small read every few seconds.

The container here is the real service behind the Chalice test client, over moto's DynamoDB, with a
fake clock for the cache; the change is written by `data_plan.apply_plan`, the supported path. Every
DynamoDB call the container makes is counted.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.repository import create_client
from chalicelib.service import ScoresService
from scripts.operations import data_plan

from .support import TABLE, FakeClock, make_item, unit_settings

# What docs/operations.md promises: a change applied through the pipeline is served within 30 s.
PROMISED_SECONDS = 30
CHECK_SECONDS = 10
TTL_SECONDS = 300


class CountingClient:
    """The API's own DynamoDB client, counting each operation it is asked for."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()

    def scan(self, **arguments: Any) -> Any:
        self.calls["Scan"] += 1
        return self._client.scan(**arguments)

    def get_item(self, **arguments: Any) -> Any:
        self.calls["GetItem"] += 1
        return self._client.get_item(**arguments)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def container(dynamodb: Any, put_items, use_service) -> tuple[ScoresService, CountingClient, FakeClock]:
    put_items(make_item("first", score=70.0, updated_at="2026-11-01T00:00:00Z"), make_item("second"))
    settings = unit_settings(CACHE_TTL_SECONDS=str(TTL_SECONDS), CATALOGUE_VERSION_CHECK_SECONDS=str(CHECK_SECONDS))
    client = CountingClient(create_client(settings))
    clock = FakeClock()
    # No jitter: the TTL is exactly TTL_SECONDS, so "within the TTL" is a sharp bound.
    service = ScoresService.from_settings(settings, client=client, clock=clock, rand=lambda: 0.0)
    use_service(service)
    return service, client, clock


def score_served(api: Client) -> float:
    answer = api.http.get("/llms/first")
    assert answer.status_code == 200
    return float(answer.json_body["score"])


def apply_change(dynamodb: Any, tmp_path: Path, score: float) -> None:
    """The supported path: plan the file against the table, then apply that plan."""
    rows = [
        {
            "model_name": "first",
            "provider": "Acme",
            "context_window": 8192,
            "score": score,
            "updated_at": "2026-11-02T00:00:00Z",
        },
        {"model_name": "second", "provider": "Acme", "context_window": 8192, "score": 50.0},
    ]
    file = tmp_path / "stage.json"
    file.write_text(json.dumps(rows))
    plan = data_plan.make_plan(dynamodb, stage="unit", table=TABLE, data_file=file)
    assert [entry["action"] for entry in plan.actions] == ["change"]
    data_plan.apply_plan(dynamodb, plan.to_json(), {"actor": "test"})


def test_a_change_applied_through_the_plan_is_served_by_a_warm_container_within_the_promise(
    container, dynamodb: Any, tmp_path: Path
) -> None:
    _service, client, clock = container
    from app import app

    with Client(app, stage_name="dev") as api:
        assert score_served(api) == 70.0  # warm: one version read, one scan
        assert client.calls == Counter({"GetItem": 1, "Scan": 1})
        listing_etag = api.http.get("/llms").headers["ETag"]
        clock.now += 3  # the change lands at an arbitrary point between two checks
        apply_change(dynamodb, tmp_path, score=88.5)

        waited = 0
        while score_served(api) != 88.5:
            clock.now += 1
            waited += 1
            assert waited <= PROMISED_SECONDS, "the change was not served within the promised window"
        # The ETag is the snapshot's content digest: a client revalidating with the old one gets the change at once.
        revalidated = api.http.get("/llms", headers={"If-None-Match": listing_etag})
        assert revalidated.status_code == 200 and revalidated.headers["ETag"] != listing_etag

    assert waited <= CHECK_SECONDS
    # One rescan for the change, and one small read per check interval: nothing per request.
    assert client.calls["Scan"] == 2
    assert client.calls["GetItem"] == 1 + 1 + 1  # warm-up read, the check that saw it, the rescan's own read


def test_version_checks_cost_one_small_read_per_interval_whatever_the_request_rate(container) -> None:
    _service, client, clock = container
    from app import app

    with Client(app, stage_name="dev") as api:
        for _second in range(60):
            for _request in range(20):
                score_served(api)
            clock.now += 1

    # 1,200 requests over a minute: one scan, and a version read at 0, 10, 20, 30, 40 and 50 s.
    assert client.calls == Counter({"Scan": 1, "GetItem": 60 // CHECK_SECONDS})


def test_a_writer_that_does_not_bump_the_version_is_served_within_the_ttl(container, dynamodb: Any) -> None:
    _service, client, clock = container
    from app import app

    with Client(app, stage_name="dev") as api:
        assert score_served(api) == 70.0
        dynamodb.update_item(
            TableName=TABLE,
            Key={"model_name": {"S": "first"}},
            UpdateExpression="SET score = :score",
            ExpressionAttributeValues={":score": {"N": "12.5"}},
        )
        clock.now += TTL_SECONDS - 1
        assert score_served(api) == 70.0  # the version did not move, so no rescan yet
        assert client.calls["Scan"] == 1
        clock.now += 1
        assert score_served(api) == 12.5


class VersionSource:
    """A catalogue version that answers at once, or hangs as a read from an unreachable DynamoDB would."""

    def __init__(self) -> None:
        self.version = "1"
        self.hang_seconds = 0.0

    def __call__(self) -> str:
        time.sleep(self.hang_seconds)
        return self.version


def test_a_version_check_that_hangs_never_fails_or_holds_a_request(dynamodb: Any, put_items, use_service) -> None:
    put_items(make_item("first", score=70.0))
    source = VersionSource()
    clock = FakeClock()
    settings = unit_settings(
        CATALOGUE_VERSION_CHECK_SECONDS=str(CHECK_SECONDS), CATALOGUE_VERSION_CHECK_DEADLINE_SECONDS="0.1"
    )
    service = use_service(ScoresService.from_settings(settings, clock=clock, read_version=source))
    from app import app

    with Client(app, stage_name="dev") as api:
        assert score_served(api) == 70.0
        source.version, source.hang_seconds = "2", 2.0
        clock.now += CHECK_SECONDS
        started = time.monotonic()
        assert score_served(api) == 70.0  # served from the snapshot, not failed
        assert time.monotonic() - started < 1.0  # and not held past the check's deadline
        assert service.cache.version_check_failures == 1
        source.hang_seconds = 0.0
        clock.now += CHECK_SECONDS - 1
        assert score_served(api) == 70.0  # the next check waits its interval
        clock.now += 1
        assert score_served(api) == 70.0  # it sees version 2 and rescans (same data here)
        assert service.cache.version_checks == 4  # the refresh's read, the failed check, the check, the rescan's read


def test_every_failed_version_check_is_logged_and_counted_at_once(dynamodb: Any, put_items, use_service, log_lines):
    """Without it, a container whose checks keep failing would wait for its TTL, and nobody would know."""
    put_items(make_item("first", score=70.0))
    clock = FakeClock()

    def refuse() -> str:
        raise RuntimeError("AccessDeniedException: not authorized to perform dynamodb:GetItem")

    settings = unit_settings(CATALOGUE_VERSION_CHECK_SECONDS=str(CHECK_SECONDS))
    use_service(ScoresService.from_settings(settings, clock=clock, read_version=refuse))
    from app import app

    with Client(app, stage_name="dev") as api:
        assert score_served(api) == 70.0  # the refresh: its version read fails, its scan serves
        clock.now += CHECK_SECONDS
        assert score_served(api) == 70.0  # a check: it fails too, and the snapshot serves on
        lines = log_lines()  # before anything else is written: the count is not held for later traffic

    warnings = [line for line in lines if line.get("message") == "catalogue version check failed"]
    assert [(line["level"], line["error"]) for line in warnings] == [
        ("WARNING", "AccessDeniedException: not authorized to perform dynamodb:GetItem")
    ] * 2
    documents = [line for line in lines if "_aws" in line]
    assert sum(line.get("CatalogueVersionCheckFailures", 0) for line in documents) == 2
    for line in documents:
        if "CatalogueVersionCheckFailures" in line:
            (directive,) = line["_aws"]["CloudWatchMetrics"]
            assert {"Name": "CatalogueVersionCheckFailures", "Unit": "Count"} in directive["Metrics"]
