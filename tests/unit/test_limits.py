"""Lambda's 6 MB response limit, held for the largest items the catalogue accepts.

A synchronous Lambda response is capped at 6 MiB of JSON: the proxy response
object, in which the body travels as an escaped string. These are size tests,
not timing tests: they build items at the documented maximums of
chalicelib/models.py and measure the payload exactly as Lambda would serialise it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import app
from chalicelib.models import (
    MAX_BENCHMARKS,
    MAX_NAME_LENGTH,
    MAX_SAFE_INTEGER,
    MAX_TEXT_LENGTH,
    InvalidItem,
    Item,
    validate_item,
)
from chalicelib.repository import ScanResult
from chalicelib.service import MAX_PAGE_PAYLOAD_BYTES, ScoresService
from scripts.harness.lambda_events import LambdaContext, api_gateway_event

from .support import unit_settings

LAMBDA_RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024
MAX_LIMIT = 1000
# The longest texts a JSON number can take here: a negative 17-digit double at DynamoDB's smallest
# exponent (1E-130), in repr form, and the safe-integer edges.
LONGEST_FLOAT = -2.2250738585072015e-130
SAMPLE_DATA = Path(__file__).resolve().parents[2] / "data" / "llms.json"


def _padded(prefix: str, character: str, length: int) -> str:
    return prefix + character * (length - len(prefix))


def maximum_item(index: int, character: str = "x") -> Item:
    """An item at every documented maximum; `character` fills the free-text fields.

    "x" is the plain case. "\\U0001f600" is the worst case for size: the API emits ASCII-only JSON,
    so each such character becomes a 12-byte surrogate pair escape, and 14 bytes in Lambda's payload.
    """
    return validate_item(
        {
            # model_name is a URL segment limited to ASCII letters, digits and a few marks: none is escaped.
            "model_name": _padded(f"m{index:07d}-", "x", MAX_NAME_LENGTH),
            "provider": _padded("p", character, MAX_TEXT_LENGTH),
            "version": _padded("v", character, MAX_TEXT_LENGTH),
            "release_date": "2024-12-31",
            "context_window": MAX_SAFE_INTEGER,
            "score": LONGEST_FLOAT,
            "benchmarks": {
                _padded(f"b{number:02d}", character, MAX_TEXT_LENGTH): LONGEST_FLOAT for number in range(MAX_BENCHMARKS)
            },
            "updated_at": "2026-11-01T00:00:00Z",
        }
    )


def typical_items(count: int) -> list[Item]:
    """The sample rows of data/llms.json, repeated under distinct names until there are `count` of them."""
    rows = json.loads(SAMPLE_DATA.read_text(encoding="utf-8"))
    return [
        validate_item({**rows[index % len(rows)], "model_name": f"{rows[index % len(rows)]['model_name']}-{index:05d}"})
        for index in range(count)
    ]


@pytest.fixture
def serve(use_service: Any) -> Iterator[Any]:
    """Makes the service serve exactly the given items, as if one Scan had returned them."""

    def use(items: list[Item]) -> None:
        load = lambda: ScanResult(list(items), 0, 1, 0.0)  # noqa: E731
        use_service(ScoresService.from_settings(unit_settings(), load=load, jitter_ratio=0))

    yield use


def _lambda_payload(query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Bytes of the proxy response as Lambda serialises it, and the parsed body."""
    response = app(api_gateway_event("/llms", query), LambdaContext())
    assert response["statusCode"] == 200, response["body"][:300]
    return len(json.dumps(response).encode()), json.loads(response["body"])


def _walk(limit: int) -> tuple[list[str], list[int]]:
    names: list[str] = []
    sizes: list[int] = []
    query = {"limit": str(limit)}
    while True:
        size, body = _lambda_payload(query)
        sizes.append(size)
        names.extend(item["model_name"] for item in body["items"])
        if "next_token" not in body:
            return names, sizes
        query = {"limit": str(limit), "next_token": body["next_token"]}


def test_maximum_item_is_at_every_documented_limit():
    item = maximum_item(1)
    assert len(item["model_name"]) == MAX_NAME_LENGTH
    assert len(item["provider"]) == len(item["version"]) == MAX_TEXT_LENGTH
    assert len(item["benchmarks"]) == MAX_BENCHMARKS
    assert all(len(name) == MAX_TEXT_LENGTH for name in item["benchmarks"])
    # One step further on any limit is refused, so no stored item can be larger.
    for too_large in (
        {**item, "model_name": item["model_name"] + "x"},
        {**item, "provider": item["provider"] + "x"},
        {**item, "benchmarks": {**item["benchmarks"], "one-more": 1}},
        {**item, "context_window": MAX_SAFE_INTEGER + 1},
        {**item, "score": LONGEST_FLOAT / 10},  # below DynamoDB's smallest magnitude, 1E-130
    ):
        with pytest.raises(InvalidItem):
            validate_item(too_large)


@pytest.mark.parametrize(
    ("character", "count"),
    [("x", 1100), ("\U0001f600", 300)],
    ids=["ascii-text", "worst-case-escaped-text"],
)
def test_largest_page_of_maximum_items_stays_under_lambda_response_limit(serve, character, count):
    serve([maximum_item(index, character) for index in range(count)])
    size, body = _lambda_payload({"limit": str(MAX_LIMIT)})
    assert size < LAMBDA_RESPONSE_LIMIT_BYTES
    # Cut short by the payload budget, not by `limit`, with a way to continue...
    assert body["count"] < MAX_LIMIT and "next_token" in body
    # ...and the page is still filled close to the budget rather than cut needlessly early.
    assert size > MAX_PAGE_PAYLOAD_BYTES - 100 * 1024


@pytest.mark.parametrize(("character", "count"), [("x", 1100), ("\U0001f600", 300)], ids=["ascii", "escaped"])
def test_walk_of_maximum_items_returns_every_item_once_in_pages_under_the_limit(serve, character, count):
    items = [maximum_item(index, character) for index in range(count)]
    serve(items)
    names, sizes = _walk(MAX_LIMIT)
    assert sorted(names) == sorted(item["model_name"] for item in items)
    assert len(names) == len(set(names))
    assert len(sizes) > 1 and max(sizes) < LAMBDA_RESPONSE_LIMIT_BYTES


def test_page_of_typical_items_is_not_cut_short_by_the_payload_budget(serve):
    serve(typical_items(1500))
    size, body = _lambda_payload({"limit": str(MAX_LIMIT)})
    assert body["count"] == MAX_LIMIT and "next_token" in body
    assert size < MAX_PAGE_PAYLOAD_BYTES


def test_single_maximum_item_fits_with_room_to_spare(serve):
    item = maximum_item(7, "\U0001f600")
    serve([item])
    response = app(api_gateway_event(f"/llms/{item['model_name']}"), LambdaContext())
    assert response["statusCode"] == 200
    assert len(json.dumps(response).encode()) < LAMBDA_RESPONSE_LIMIT_BYTES // 50
