"""One deadline for a whole piece of work: the caller never waits past it, and the work stops at its next step."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.deadline import Deadline, DeadlineExceeded, check, run_within
from chalicelib.models import item_to_dynamodb
from chalicelib.repository import DynamoDBUnavailable, ScoresRepository

from .support import TABLE, make_item

# Scheduling noise on a shared machine.
SLACK = 1.5


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class PagedClient:
    """A DynamoDB client whose Scan answers `pages` pages of one item each, each `on_page` after being asked."""

    def __init__(self, pages: int, on_page=None) -> None:
        self.pages = pages
        self.on_page = on_page or (lambda number: None)
        self.calls: list[dict[str, Any]] = []

    def scan(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        number = len(self.calls)
        self.on_page(number)
        page: dict[str, Any] = {"Items": [item_to_dynamodb(make_item(f"model-{number:02d}"))]}
        if number < self.pages:
            page["LastEvaluatedKey"] = {"model_name": {"S": f"model-{number:02d}"}}
        return page


def test_work_that_finishes_in_time_gives_its_result():
    assert run_within(Deadline(5), lambda: 42) == 42


def test_what_the_work_raises_reaches_the_caller():
    def fail() -> None:
        raise DynamoDBUnavailable("scan failed: AccessDeniedException")

    with pytest.raises(DynamoDBUnavailable, match="AccessDenied"):
        run_within(Deadline(5), fail)


def test_check_outside_bounded_work_does_nothing():
    check("anything")


def test_scan_stops_reading_between_pages_once_past_its_deadline():
    clock = FakeClock()

    def one_second_per_page(number: int) -> None:
        clock.now += 1

    client = PagedClient(pages=10, on_page=one_second_per_page)
    repository = ScoresRepository(client, TABLE)
    with pytest.raises(DeadlineExceeded, match=r"^deadline of 2\.5 s exceeded after 3 pages$"):
        run_within(Deadline(2.5, clock), repository.scan_all)
    assert len(client.calls) == 3  # the fourth page was never asked for


def test_a_scan_within_its_deadline_reads_every_page():
    client = PagedClient(pages=4)
    result = run_within(Deadline(5), ScoresRepository(client, TABLE).scan_all)
    assert result.pages == 4 and [item["model_name"] for item in result.items][-1] == "model-04"


def test_a_page_that_never_comes_cannot_hold_the_caller_and_the_abandoned_scan_reads_no_further():
    release = threading.Event()
    workers: list[threading.Thread] = []

    def stall_on_second_page(number: int) -> None:
        if number == 2:
            workers.append(threading.current_thread())
            release.wait(30)

    client = PagedClient(pages=10, on_page=stall_on_second_page)
    repository = ScoresRepository(client, TABLE)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"^deadline of 0\.2 s exceeded after 1 page$"):
        run_within(Deadline(0.2), repository.scan_all)
    assert 0.2 <= time.monotonic() - started < 0.2 + SLACK
    (worker,) = workers
    assert worker.daemon and worker is not threading.current_thread()
    release.set()  # the late page arrives after all
    worker.join(5)
    assert not worker.is_alive()
    assert len(client.calls) == 2  # it stopped at the next page boundary instead of reading on


def test_probe_reads_one_key_through_the_data_plane_not_the_control_plane():
    client = boto3.client("dynamodb", region_name="us-east-1")
    repository = ScoresRepository(client, TABLE)
    with Stubber(client) as stubber:
        stubber.add_response(
            "scan",
            {"Items": [], "Count": 0, "ScannedCount": 1},
            {
                "TableName": TABLE,
                "Limit": 1,
                "ProjectionExpression": "#key",
                "ExpressionAttributeNames": {"#key": "model_name"},
            },
        )
        repository.probe()
        stubber.add_client_error("scan", "AccessDeniedException", "not authorized")
        with pytest.raises(DynamoDBUnavailable, match=f"probe of {TABLE} failed: AccessDeniedException"):
            repository.probe()
        stubber.assert_no_pending_responses()
