"""A whole refresh ends within CACHE_REFRESH_DEADLINE_SECONDS, against a table that pages slowly or stops answering.

Each Scan call here is well within its own timeouts; only the sum is too slow, as in issue 16: the
per-call bounds alone would let such a refresh run past the Lambda timeout. The API runs under
`chalice local`, its botocore client reads a stand-in over real HTTP (tests/faults/scan_stand_in.py),
and every bound below derives from the settings the API was started with.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from scripts.harness.local_stack import ChaliceLocal, HttpAnswer
from scripts.operations import seed_data

from .scan_stand_in import ScanStandIn
from .support import FAULT_SETTINGS, SLACK

pytestmark = pytest.mark.integration

DEADLINE = 2
RETRY_AFTER = 3
TTL = 1
# Far above the deadline, so a page that never comes is ended by the deadline, not by botocore.
READ_TIMEOUT = 10
PAGE_SIZE = 3
# Each page alone is quick; the whole catalogue (36 items, 12 pages) takes 3.6 s, past the deadline.
PAGE_DELAY = 0.3
DEADLINE_SETTINGS = {
    **FAULT_SETTINGS,
    "DYNAMODB_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
    "CACHE_REFRESH_DEADLINE_SECONDS": str(DEADLINE),
    "CACHE_RETRY_AFTER_SECONDS": str(RETRY_AFTER),
    "CACHE_TTL_SECONDS": str(TTL),
}
# A request that needs no refresh (inside the back-off) never waits on DynamoDB.
NO_DYNAMODB_BOUND = 0.5
DEADLINE_MESSAGE = re.compile(rf"^deadline of {DEADLINE} s exceeded after (\d+) pages?$")
CATALOGUE = seed_data.load_items(seed_data.DEFAULT_FILE)
# What the table holds once the slow pages start: a read cut short would mix these names in.
RENAMED = [{**item, "model_name": "renamed-" + item["model_name"]} for item in CATALOGUE]


@dataclass
class SlowTableApi:
    api: ChaliceLocal
    table: ScanStandIn

    def get(self, path: str) -> HttpAnswer:
        # The client timeout is far above every bound asserted, so a hang shows as a failed bound.
        return self.api.get(path, timeout=60)

    def refresh_scans(self, since: float) -> list:
        """Scans a refresh sent (the deep health probe's one-key Scans carry a Limit)."""
        return [scan for scan in self.table.scans(since) if scan.limit is None]


def _api_over_stand_in() -> Iterator[SlowTableApi]:
    table = ScanStandIn(CATALOGUE, PAGE_SIZE).start()
    api = None
    try:
        api = ChaliceLocal.start(table.endpoint, DEADLINE_SETTINGS)
        yield SlowTableApi(api, table)
    finally:
        if api is not None:
            api.stop()
        table.stop()


@pytest.fixture(scope="module")
def slow_pages_api() -> Iterator[SlowTableApi]:
    yield from _api_over_stand_in()


@pytest.fixture(scope="module")
def stalled_page_api() -> Iterator[SlowTableApi]:
    yield from _api_over_stand_in()


@pytest.fixture(scope="module")
def cold_api() -> Iterator[SlowTableApi]:
    yield from _api_over_stand_in()


def warm_up(stack: SlowTableApi) -> None:
    """A whole, quick read of the original catalogue, then the TTL waited out: the next request must refresh."""
    stack.table.page_delay_seconds, stack.table.stall_from_page = 0.0, None
    stack.table.set_items(CATALOGUE)
    time.sleep(TTL + 0.2)
    answer = stack.get("/llms?limit=1000")
    assert answer.status == 200 and answer.json()["count"] == len(CATALOGUE)
    time.sleep(TTL + 0.2)


def pages_read_before_the_deadline(stack: SlowTableApi, answer: HttpAnswer) -> int:
    line = stack.api.log_line_for(answer)
    assert line["DynamoDBErrors"] == 1
    match = DEADLINE_MESSAGE.match(line["dynamodb_error"])
    assert match, line["dynamodb_error"]
    return int(match.group(1))


def assert_ended_by_the_deadline(answer: HttpAnswer) -> None:
    assert DEADLINE - 0.1 <= answer.seconds < DEADLINE + SLACK, answer.seconds


def test_a_refresh_of_slow_pages_ends_at_its_deadline_and_serves_the_last_good_snapshot(slow_pages_api):
    stack = slow_pages_api
    warm_up(stack)
    stack.table.set_items(RENAMED)
    stack.table.page_delay_seconds = PAGE_DELAY
    started = time.monotonic()
    answer = stack.get("/llms?limit=1000")
    assert answer.status == 200 and answer.header("X-Cache") == "STALE"
    assert_ended_by_the_deadline(answer)
    # The whole last good catalogue, none of the pages read in time: a partial read is never served.
    names = [item["model_name"] for item in answer.json()["items"]]
    assert sorted(names) == sorted(item["model_name"] for item in CATALOGUE)
    pages_read = pages_read_before_the_deadline(stack, answer)
    assert 1 <= pages_read < stack.table.pages
    # The abandoned read stops at its next page boundary instead of reading the rest of the table.
    time.sleep(stack.table.pages * PAGE_DELAY + SLACK - (time.monotonic() - started))
    assert len(stack.refresh_scans(started)) <= pages_read + 1 < stack.table.pages


def test_a_page_that_never_comes_ends_the_refresh_at_its_deadline_then_the_table_rests(stalled_page_api):
    stack = stalled_page_api
    warm_up(stack)
    stack.table.stall_from_page = 2
    answer = stack.get("/llms?limit=10")
    assert answer.status == 200 and answer.header("X-Cache") == "STALE"
    assert_ended_by_the_deadline(answer)
    assert pages_read_before_the_deadline(stack, answer) == 1
    answered_at = time.monotonic()
    # Back-off: inside Retry-After every answer is immediate, and no refresh starts.
    for path in ("/llms?limit=10", "/llms/gpt-4o", "/llms?provider=openai"):
        again = stack.get(path)
        assert again.status == 200 and again.header("X-Cache") == "STALE" and again.seconds < NO_DYNAMODB_BOUND
    deep = stack.get("/health?deep=true")
    assert deep.status == 200 and deep.json()["status"] == "degraded" and deep.seconds < DEADLINE + SLACK
    assert [scan for scan in stack.refresh_scans(answered_at) if scan.page == 1] == []
    # Once Retry-After has passed, the next request reads the table again, from the first page.
    time.sleep(max(0.0, RETRY_AFTER + 0.2 - (time.monotonic() - answered_at)))
    retried_at = time.monotonic()
    retry = stack.get("/llms?limit=10")
    assert retry.header("X-Cache") == "STALE"
    assert_ended_by_the_deadline(retry)
    assert [scan.page for scan in stack.refresh_scans(retried_at)][:1] == [1]


def test_a_cold_container_whose_first_refresh_runs_out_of_time_answers_503_then_backs_off(cold_api):
    stack = cold_api
    stack.table.page_delay_seconds = PAGE_DELAY
    answer = stack.get("/llms")
    assert answer.status == 503 and answer.json()["error"]["code"] == "service_unavailable"
    assert 1 <= int(answer.header("Retry-After")) <= RETRY_AFTER
    assert_ended_by_the_deadline(answer)
    assert 1 <= pages_read_before_the_deadline(stack, answer) < stack.table.pages
    answered_at = time.monotonic()
    one = stack.get("/llms/gpt-4o")
    assert one.status == 503 and one.seconds < NO_DYNAMODB_BOUND
    deep = stack.get("/health?deep=true")
    assert deep.status == 503 and deep.json()["error"]["code"] == "dependency_unavailable"
    assert int(deep.header("Retry-After")) >= 1 and deep.seconds < NO_DYNAMODB_BOUND
    assert b"llm_scores" not in deep.body and b"deadline" not in deep.body
    assert [scan for scan in stack.refresh_scans(answered_at) if scan.page == 1] == []
    # The table recovers: after Retry-After, the whole catalogue is read and served.
    stack.table.page_delay_seconds = 0.0
    time.sleep(max(0.0, RETRY_AFTER + 0.2 - (time.monotonic() - answered_at)))
    recovered = stack.get("/llms?limit=1000")
    assert recovered.status == 200 and recovered.header("X-Cache") == "MISS"
    assert recovered.json()["count"] == len(CATALOGUE)
