"""The metric batch: valid Embedded Metric Format, written when due, and no value lost or written twice.

`assert_valid_emf` checks a log line against the EMF specification
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
the `_aws` block, the metric directives, and every declared value present and numeric.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.metrics import MAX_VALUES_PER_METRIC, MetricBatch

# The units CloudWatch accepts (MetricDatum.Unit).
EMF_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def assert_valid_emf(line: dict[str, Any]) -> None:
    """Fails unless `line` is a valid EMF document, as CloudWatch would extract it."""
    metadata = line["_aws"]
    assert isinstance(metadata["Timestamp"], int) and metadata["Timestamp"] > 1_600_000_000_000  # epoch ms
    directives = metadata["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 1024
        for dimension_set in directive["Dimensions"]:
            assert isinstance(dimension_set, list) and len(dimension_set) <= 30
            for key in dimension_set:
                assert isinstance(line.get(key), str) and line[key], f"dimension {key} needs a string value"
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            name = metric["Name"]
            assert isinstance(name, str) and 1 <= len(name) <= 1024
            assert metric.get("Unit", "None") in EMF_UNITS
            value = line[name]
            values = value if isinstance(value, list) else [value]
            assert 1 <= len(values) <= MAX_VALUES_PER_METRIC, name
            assert all(_is_number(item) for item in values), (name, value)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def batch(clock: FakeClock) -> MetricBatch:
    return MetricBatch("LLMScores", "llm-scores-test", max_age_seconds=1.0, clock=clock)


def test_routine_metrics_wait_until_the_batch_is_a_second_old():
    clock = FakeClock()
    metrics = batch(clock)
    for _ in range(5):
        metrics.count("Requests")
        metrics.count("CacheHit")
        metrics.sample("Latency", 0.05)
        assert metrics.take_if_due() is None
        clock.now += 0.1
    clock.now += 0.6
    document = metrics.take_if_due()
    assert document is not None
    assert_valid_emf(document)
    assert document["Requests"] == 5 and document["CacheHit"] == 5 and document["Latency"] == [0.05] * 5
    assert document["_aws"]["Timestamp"] == 1_800_000_000_000, "stamped with the oldest value's time"
    assert metrics.take_if_due() is None and metrics.take() is None


@pytest.mark.parametrize("news", ["CacheMiss", "ServerErrors", "ClientErrors", "ColdStart", "SkippedItems"])
def test_unusual_counters_are_written_at_once(news):
    metrics = batch(FakeClock())
    metrics.count("Requests")
    assert metrics.take_if_due() is None
    metrics.count(news)
    document = metrics.take_if_due()
    assert document is not None and document[news] == 1 and document["Requests"] == 1
    assert_valid_emf(document)


def test_a_metric_with_the_most_values_emf_allows_is_written_at_once():
    metrics = batch(FakeClock())
    for index in range(MAX_VALUES_PER_METRIC - 1):
        metrics.sample("Latency", index)
        assert metrics.take_if_due() is None
    metrics.sample("Latency", 99)
    document = metrics.take_if_due()
    assert document is not None and len(document["Latency"]) == MAX_VALUES_PER_METRIC
    assert_valid_emf(document)


def test_every_value_is_written_exactly_once_across_flushes():
    clock = FakeClock()
    metrics = batch(clock)
    written: list[float] = []
    requests = 0
    for index in range(1000):
        clock.now += 0.013
        metrics.count("Requests")
        metrics.sample("Latency", index)
        if index % 97 == 0:
            metrics.count("ClientErrors")
        document = metrics.take_if_due()
        if document is not None:
            assert_valid_emf(document)
            written += document["Latency"]
            requests += document["Requests"]
    last = metrics.take()
    assert last is not None
    written += last["Latency"]
    requests += last["Requests"]
    assert written == list(range(1000)) and requests == 1000


def test_units_are_declared_as_cloudwatch_names_them():
    metrics = batch(FakeClock())
    metrics.count("ServerErrors")
    metrics.sample("Latency", 1.5)
    document = metrics.take()
    assert document is not None
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
