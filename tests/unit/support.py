"""What several unit-test modules share. Test modules import it; none imports another, nor conftest.py.

Fixtures stay in conftest.py; plain values and functions live here.
"""

from __future__ import annotations

import os
from typing import Any

from chalicelib.config import Settings
from chalicelib.metrics import MAX_VALUES_PER_METRIC
from chalicelib.models import validate_item

# tests/conftest.py sets the unit stage's table name in the environment, as Lambda would.
TABLE = os.environ["TABLE_NAME"]


def make_item(name: str, **fields: Any) -> dict[str, Any]:
    """A valid catalogue item named `name`, with `fields` over the defaults."""
    item = {"model_name": name, "provider": "Acme", "context_window": 8192, "score": 50.0}
    item.update(fields)
    return validate_item(item)


def unit_settings(**environment: str) -> Settings:
    """Settings as the unit tests' stage would have them, with `environment` on top."""
    return Settings.from_environment({"TABLE_NAME": TABLE, **environment})


def seed_rows(count: int, updated_at: str | None = "2026-01-01T00:00:00Z", **extra: Any) -> list[dict[str, Any]]:
    """`count` rows of a seed file, `model-0000` upwards, each with `extra` on top."""
    return [
        {
            "model_name": f"model-{index:04d}",
            "provider": "Acme",
            "context_window": 4096,
            "score": index,
            **({"updated_at": updated_at} if updated_at else {}),
            **extra,
        }
        for index in range(count)
    ]


# A minute boundary, so each test knows where the next one falls.
MINUTE_START = 1_800_000_000.0

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
    """A clock that stands still until a test moves `now`."""

    def __init__(self, now: float = MINUTE_START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
