import pytest

from chalicelib.models import InvalidItem, item_from_dynamodb, item_to_dynamodb, validate_item

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


def test_missing_required_fields_are_listed():
    with pytest.raises(InvalidItem, match="context_window, score"):
        validate_item({"model_name": "m", "provider": "p"})


def test_unknown_field_is_refused_in_seed_files_but_ignored_in_table_items():
    with pytest.raises(InvalidItem, match="unknown field"):
        validate_item({**GOOD, "colour": "blue"})
    assert "colour" not in validate_item({**GOOD, "colour": "blue"}, allow_unknown_fields=True)


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
