import math
import re
from pathlib import Path

import pytest
import yaml

from chalicelib import models
from chalicelib.models import (
    MAX_SAFE_INTEGER,
    InvalidItem,
    item_from_dynamodb,
    item_to_dynamodb,
    normalise_timestamp,
    validate_item,
)

ROOT = Path(__file__).resolve().parents[2]

GOOD = {
    "model_name": "gpt-4o",
    "provider": "OpenAI",
    "version": "2024-08-06",
    "release_date": "2024-05-13",
    "context_window": 128000,
    "score": 88.7,
    "benchmarks": {"mmlu": 88.7, "humaneval": 90},
    "updated_at": "2026-11-01T02:00:00+02:00",
}


def test_valid_item_is_returned_in_canonical_order_with_utc_timestamp():
    item = validate_item(GOOD)
    assert list(item) == [
        "model_name",
        "provider",
        "version",
        "release_date",
        "context_window",
        "score",
        "benchmarks",
        "updated_at",
    ]
    assert item["updated_at"] == "2026-11-01T00:00:00Z"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("model_name", "", "model_name"),
        ("model_name", "a/b", "model_name"),
        ("model_name", "x" * 129, "model_name"),
        ("provider", 7, "provider"),
        ("provider", "Open\x07AI", "control characters"),
        ("context_window", 0, "context_window"),
        ("context_window", 1.5, "context_window"),
        ("context_window", True, "context_window"),
        ("context_window", 2**53, "context_window"),
        ("score", -(2**60), "score"),
        ("score", "high", "score"),
        ("score", float("nan"), "score"),
        ("release_date", "2024-02-30", "release_date"),
        ("release_date", "13/05/2024", "release_date"),
        ("benchmarks", {"mmlu": "high"}, "benchmarks.mmlu"),
        ("benchmarks", [1, 2], "benchmarks"),
        ("updated_at", "2026-11-01T00:00:00", "timezone"),
        ("updated_at", "yesterday", "updated_at"),
    ],
)
def test_invalid_field_is_refused_with_its_name(field, value, message):
    with pytest.raises(InvalidItem, match=message):
        validate_item({**GOOD, field: value})


@pytest.mark.parametrize("field", ["model_name", "provider", "context_window", "score"])
def test_a_required_field_that_is_null_is_refused(field):
    with pytest.raises(InvalidItem, match=field):
        validate_item({**GOOD, field: None})


def test_missing_required_fields_are_listed():
    with pytest.raises(InvalidItem, match="context_window, score"):
        validate_item({"model_name": "m", "provider": "p"})


def test_unknown_field_is_refused_in_seed_files():
    with pytest.raises(InvalidItem, match="unknown field"):
        validate_item({**GOOD, "colour": "blue"})


@pytest.mark.parametrize(
    "extra",
    [
        {"SS": ["a", "b"]},
        {"NS": ["1", "2"]},
        {"BS": [b"\x00"]},
        {"B": b"\x01"},
        {"L": [{"S": "x"}, {"SS": ["y"]}]},
        {"M": {"nested": {"BS": [b"z"]}}},
        {"NULL": True},
        {"BOOL": False},
        {"S": "anything"},
        {"N": "not-a-number"},
    ],
)
def test_unserved_attributes_are_ignored_whatever_their_dynamodb_type(extra):
    attributes = {**item_to_dynamodb(validate_item(GOOD)), "added_by_another_writer": extra}
    assert item_from_dynamodb(attributes) == validate_item(GOOD)


@pytest.mark.parametrize(
    "timestamp",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00", "2025-13-01T00:00:00Z", "2025-01-01"],
)
def test_timestamp_that_cannot_be_normalised_is_an_invalid_item_not_a_crash(timestamp):
    with pytest.raises(InvalidItem, match="updated_at"):
        validate_item({**GOOD, "updated_at": timestamp})
    attributes = {**item_to_dynamodb(validate_item(GOOD)), "updated_at": {"S": timestamp}}
    with pytest.raises(InvalidItem, match="updated_at"):
        item_from_dynamodb(attributes)


@pytest.mark.parametrize(
    ("timestamp", "normalised"),
    [
        ("0999-06-01T00:00:00Z", "0999-06-01T00:00:00Z"),
        ("2025-01-01T09:00:00+09:00", "2025-01-01T00:00:00Z"),
        ("2025-01-01T00:00:00.250+00:00", "2025-01-01T00:00:00Z"),
    ],
)
def test_timestamps_keep_four_digit_years_in_utc(timestamp, normalised):
    assert validate_item({**GOOD, "updated_at": timestamp})["updated_at"] == normalised


# openapi.yaml's Item.updated_at pattern: whole seconds, UTC.
CONTRACT_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", re.ASCII)


@pytest.mark.parametrize(
    ("timestamp", "served"),
    [
        # JavaScript's toISOString() writes milliseconds.
        ("2025-01-31T12:00:00.123Z", "2025-01-31T12:00:00Z"),
        # Truncated, never rounded up into the next second (or the next year).
        ("2025-12-31T23:59:59.999999Z", "2025-12-31T23:59:59Z"),
        ("2025-01-31T12:00:00.5+01:00", "2025-01-31T11:00:00Z"),
        ("2025-01-31T12:00:00Z", "2025-01-31T12:00:00Z"),
    ],
)
def test_updated_at_with_a_fraction_is_served_in_whole_seconds_of_the_contract(timestamp, served):
    assert validate_item({**GOOD, "updated_at": timestamp})["updated_at"] == served
    # Read back from the table, as another writer might have stored it, it is served the same way.
    attributes = {**item_to_dynamodb(validate_item(GOOD)), "updated_at": {"S": timestamp}}
    assert item_from_dynamodb(attributes)["updated_at"] == served
    assert CONTRACT_TIMESTAMP.fullmatch(served)


def test_openapi_updated_at_pattern_and_example_are_whole_seconds():
    schema = yaml.safe_load((ROOT / "openapi.yaml").read_text())["components"]["schemas"]["Item"]
    updated_at = schema["properties"]["updated_at"]
    assert updated_at["pattern"] == "^" + CONTRACT_TIMESTAMP.pattern + "$"
    example = updated_at["example"]
    assert re.fullmatch(CONTRACT_TIMESTAMP, example)
    assert normalise_timestamp(example) == example


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("score", 1e-200, "score"),
        ("score", -1e-131, "score"),
        ("score", 1e126, "score"),
        ("score", -1e200, "score"),
        ("score", 5e-324, "score"),  # the smallest subnormal double
        ("benchmarks", {"mmlu": 1e200}, "benchmarks.mmlu"),
        ("benchmarks", {"mmlu": math.nextafter(1e-130, 0)}, "benchmarks.mmlu"),
    ],
)
def test_number_dynamodb_refuses_is_an_invalid_item_naming_the_field(field, value, named):
    with pytest.raises(InvalidItem, match=rf"{re.escape(named)} must be 0 or of magnitude 1E-130 to 9.99E\+125"):
        validate_item({**GOOD, field: value})


@pytest.mark.parametrize("value", [0, 0.0, -0.0, 1e-130, -1e-130, 9.99e125, -9.99e125, 88.7, MAX_SAFE_INTEGER])
def test_numbers_within_dynamodb_range_are_accepted_and_stored_as_given(value):
    item = validate_item({**GOOD, "score": value, "benchmarks": {"mmlu": value}})
    assert models.fits_dynamodb(value)
    assert item_from_dynamodb(item_to_dynamodb(item))["score"] == value


def test_dynamodb_number_rule_counts_significant_digits_as_dynamodb_does():
    # No float or safe integer reaches 38 digits; the rule still holds for the text it would be.
    assert models.fits_dynamodb(10**37) and models.fits_dynamodb(10**38)  # one significant digit
    assert models.fits_dynamodb(int("9" * 38)) and not models.fits_dynamodb(int("9" * 39))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("model_name", "gpt-4o\n", "model_name"),
        ("release_date", "2024-05-13\n", "YYYY-MM-DD"),
    ],
)
def test_text_with_a_trailing_newline_is_refused_by_its_pattern(field, value, message):
    with pytest.raises(InvalidItem, match=message):
        validate_item({**GOOD, field: value})


@pytest.mark.parametrize("text", ["4096\n", " 4096", "4_096", "nan", "inf", "0x10", ""])
def test_stored_number_text_that_is_not_a_dynamodb_number_is_an_invalid_item(text):
    attributes = {**item_to_dynamodb(validate_item(GOOD)), "context_window": {"N": text}}
    with pytest.raises(InvalidItem, match="context_window"):
        item_from_dynamodb(attributes)


@pytest.mark.parametrize("field", ["provider", "version", "benchmarks"])
def test_text_with_a_lone_surrogate_is_an_invalid_item(field):
    value = {"mmlu\ud800": 1} if field == "benchmarks" else "Open\ud800AI"
    with pytest.raises(InvalidItem, match="lone surrogate"):
        validate_item({**GOOD, field: value})


def test_provider_is_trimmed_where_it_is_read():
    attributes = {**item_to_dynamodb(validate_item(GOOD)), "provider": {"S": " OpenAI "}}
    assert item_from_dynamodb(attributes)["provider"] == "OpenAI"


def test_dynamodb_round_trip_keeps_integers_integers():
    item = validate_item(GOOD)
    attributes = item_to_dynamodb(item)
    assert attributes["context_window"] == {"N": "128000"}
    assert attributes["score"] == {"N": "88.7"}
    back = item_from_dynamodb(attributes)
    assert back == item
    assert isinstance(back["context_window"], int)
    assert isinstance(back["benchmarks"]["humaneval"], int)
    assert isinstance(back["score"], float)


@pytest.mark.parametrize(
    "attributes",
    [
        {"model_name": {"S": "m"}, "provider": {"N": "1"}, "context_window": {"N": "1"}, "score": {"N": "1"}},
        {"model_name": {"S": "m"}, "provider": {"S": "p"}, "context_window": {"S": "big"}, "score": {"N": "1"}},
        {"model_name": {"S": "m"}, "provider": {"S": "p"}, "context_window": {"N": "1"}},
        {"model_name": {"S": "m"}, "provider": {"S": "p"}, "context_window": {"N": "1"}, "score": {"SS": ["a"]}},
        {"model_name": {"S": "m"}, "provider": {"S": "p"}, "context_window": {"N": "1"}, "score": {"N": "x"}},
    ],
)
def test_malformed_table_items_raise_invalid_item(attributes):
    with pytest.raises(InvalidItem):
        item_from_dynamodb(attributes)


@pytest.mark.parametrize("character", ["\x7f", "\x85", "\x9f", "\x1d"])
def test_stored_text_refuses_every_control_character_a_query_refuses(character):
    with pytest.raises(InvalidItem, match="control characters"):
        validate_item({**GOOD, "provider": f"Open{character}AI"})


def test_stored_and_asked_providers_are_trimmed_by_the_same_rule():
    from chalicelib.models import normalise_provider
    from chalicelib.query import parse_list_query

    stored = validate_item({**GOOD, "provider": "\u3000OpenAI\u2029"})["provider"]
    assert stored == "OpenAI"
    assert parse_list_query({"provider": ["\u00a0openai "]}).provider == normalise_provider(stored) == "openai"
