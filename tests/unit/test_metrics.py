"""The metric batch: valid Embedded Metric Format, written when due, filed in the minute each value
happened, and no value lost or written twice.

Every line is checked against the EMF specification by `support.assert_valid_emf`.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from chalicelib.metrics import MAX_VALUES_PER_METRIC, MetricBatch

from .support import MINUTE_START, FakeClock, assert_valid_emf


def batch(clock: FakeClock) -> MetricBatch:
    return MetricBatch("LLMScores", "llm-scores-test", max_age_seconds=1.0, clock=clock)


def test_routine_metrics_wait_until_the_batch_is_a_second_old():
    clock = FakeClock()
    metrics = batch(clock)
    for _ in range(5):
        metrics.count("Requests")
        metrics.count("CacheHit")
        metrics.sample("Latency", 0.05)
        assert not metrics.take_if_due()
        clock.now += 0.1
    clock.now += 0.6
    (document,) = metrics.take_if_due()
    assert_valid_emf(document)
    assert document["Requests"] == 5 and document["CacheHit"] == 5 and document["Latency"] == [0.05] * 5
    assert document["_aws"]["Timestamp"] == 1_800_000_000_000, "stamped with the oldest value's time"
    assert not metrics.take_if_due() and not metrics.take()


@pytest.mark.parametrize("news", ["CacheMiss", "ServerErrors", "ClientErrors", "ColdStart", "SkippedItems"])
def test_unusual_counters_are_written_at_once(news):
    metrics = batch(FakeClock())
    metrics.count("Requests")
    assert not metrics.take_if_due()
    metrics.count(news)
    (document,) = metrics.take_if_due()
    assert document[news] == 1 and document["Requests"] == 1
    assert_valid_emf(document)


def test_a_metric_with_the_most_values_emf_allows_is_written_at_once():
    metrics = batch(FakeClock())
    for index in range(MAX_VALUES_PER_METRIC - 1):
        metrics.sample("Latency", index)
        assert not metrics.take_if_due()
    metrics.sample("Latency", 99)
    metrics.sample("Latency", 100)  # two requests at once, say: the full document is already closed
    full, next_one = metrics.take()
    assert full["Latency"] == list(range(MAX_VALUES_PER_METRIC)) and next_one["Latency"] == [100]
    assert_valid_emf(full)


def test_every_value_is_written_exactly_once_across_flushes():
    clock = FakeClock()
    metrics = batch(clock)
    written: list[float] = []
    requests = 0
    for index in range(1000):
        clock.now += 0.13  # 130 s in all: across two minute boundaries
        metrics.count("Requests")
        metrics.sample("Latency", index)
        if index % 97 == 0:
            metrics.count("ClientErrors")
        for document in metrics.take_if_due():
            assert_valid_emf(document)
            written += document["Latency"]
            requests += document["Requests"]
    for document in metrics.take():
        written += document["Latency"]
        requests += document["Requests"]
    assert written == list(range(1000)) and requests == 1000


def test_after_an_idle_gap_each_value_is_stamped_with_its_own_time():
    clock = FakeClock(MINUTE_START + 20)
    metrics = batch(clock)
    metrics.count("Requests")  # a routine hit: it waits for a line that is due
    metrics.sample("Latency", 0.5)
    clock.now += 600  # ten idle minutes
    metrics.count("Requests")  # then a 400
    metrics.count("ClientErrors")
    metrics.sample("Latency", 0.7)
    hit, client_error = metrics.take_if_due()
    assert hit["_aws"]["Timestamp"] == (MINUTE_START + 20) * 1000
    assert hit["Requests"] == 1 and hit["Latency"] == [0.5] and "ClientErrors" not in hit
    assert client_error["_aws"]["Timestamp"] == (MINUTE_START + 620) * 1000
    assert client_error["Requests"] == 1 and client_error["ClientErrors"] == 1 and client_error["Latency"] == [0.7]


def test_a_batch_is_closed_at_the_minute_boundary_even_between_routine_values():
    clock = FakeClock(MINUTE_START + 59.75)
    metrics = batch(clock)
    metrics.count("Requests")
    clock.now += 0.5  # half a second: not due by age, but in the next minute
    metrics.count("Requests")
    (last_minute,) = metrics.take_if_due()
    assert last_minute["Requests"] == 1 and last_minute["_aws"]["Timestamp"] == (MINUTE_START + 59.75) * 1000
    (this_minute,) = metrics.take()
    assert this_minute["Requests"] == 1 and this_minute["_aws"]["Timestamp"] == (MINUTE_START + 60.25) * 1000


def test_a_clock_stepping_back_never_files_a_value_before_its_document_opened():
    clock = FakeClock(MINUTE_START + 30)
    metrics = batch(clock)
    metrics.count("Requests")
    clock.now -= 10  # NTP corrected the clock; still the same minute
    metrics.count("Requests")
    first, second = metrics.take()
    assert first["_aws"]["Timestamp"] == (MINUTE_START + 30) * 1000
    assert second["_aws"]["Timestamp"] == (MINUTE_START + 20) * 1000


def test_no_value_is_filed_after_it_happened_or_more_than_a_minute_before():
    # Each Latency value is the time it was recorded, so every document can be checked against its stamp.
    clock = FakeClock(MINUTE_START)
    metrics = batch(clock)
    pace = random.Random(16)
    recorded: list[float] = []
    documents: list[dict[str, Any]] = []
    for _ in range(2000):
        clock.now += pace.choice([0.0, 0.25, 0.5, 7.25, 59.75, 600.0, -3.0])
        metrics.sample("Latency", clock.now)
        recorded.append(clock.now)
        if pace.random() < 0.05:
            metrics.count("ServerErrors")
        documents += metrics.take_if_due()
    documents += metrics.take()
    filed: list[float] = []
    for document in documents:
        assert_valid_emf(document)
        stamp = document["_aws"]["Timestamp"] / 1000
        assert all(stamp <= happened < stamp + 60 for happened in document["Latency"]), stamp
        filed += document["Latency"]
    assert filed == recorded


def test_discarded_values_are_never_written():
    metrics = batch(FakeClock())
    metrics.count("ColdStart")
    metrics.sample("DynamoDBLatency", 12.5)
    metrics.discard()
    assert not metrics.take_if_due() and not metrics.take()
    metrics.count("Requests")
    (document,) = metrics.take()
    assert document["Requests"] == 1 and "ColdStart" not in document and "DynamoDBLatency" not in document


def test_units_are_declared_as_cloudwatch_names_them():
    metrics = batch(FakeClock())
    metrics.count("ServerErrors")
    metrics.sample("Latency", 1.5)
    (document,) = metrics.take()
    units = {metric["Name"]: metric["Unit"] for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units == {"ServerErrors": "Count", "Latency": "Milliseconds"}
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert document["service"] == "llm-scores-test"


def _document(metric: dict[str, Any], value: Any, dimensions: list[list[str]]) -> dict[str, Any]:
    directive = {"Namespace": "N", "Dimensions": dimensions, "Metrics": [metric]}
    return {"_aws": {"Timestamp": 1_800_000_000_000, "CloudWatchMetrics": [directive]}, metric["Name"]: value}


@pytest.mark.parametrize(
    "broken",
    [
        {"_aws": {"Timestamp": "now", "CloudWatchMetrics": []}},
        _document({"Name": "Latency"}, 1, [["service"]]),
        _document({"Name": "Latency"}, "1", [[]]),
        _document({"Name": "Latency", "Unit": "ms"}, 1, [[]]),
    ],
    ids=["timestamp-not-a-number", "dimension-without-value", "value-not-numeric", "unknown-unit"],
)
def test_the_emf_check_itself_refuses_invalid_documents(broken):
    with pytest.raises((AssertionError, KeyError)):
        assert_valid_emf(broken)
