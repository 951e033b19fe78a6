"""Every `next_token` the API issues is accepted when it comes back, at the worst cases the contract allows.

A token carries the provider (lower-cased) and the last item's sort key. The longest come from a
64-character provider of four-byte characters, or of characters whose lower() grows (U+0130 `İ`
becomes `i` and a combining dot), and from 128-character model names. These tests walk such
catalogues page by page through the real handler, in every sort and order, as Lambda calls it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import app
from chalicelib.models import MAX_NAME_LENGTH, MAX_SAFE_INTEGER, MAX_TEXT_LENGTH, Item, validate_item
from chalicelib.query import MAX_PROVIDER_LENGTH, MAX_TOKEN_LENGTH
from chalicelib.repository import ScanResult
from chalicelib.service import ScoresService
from chalicelib.snapshot import ORDERS, SORT_FIELDS
from scripts.harness.lambda_events import LambdaContext, api_gateway_event

from .support import unit_settings

ROOT = Path(__file__).resolve().parents[2]
ITEMS_PER_PROVIDER = 3
# The longest number texts the catalogue accepts: 17 digits at DynamoDB's smallest exponent.
LONGEST_SCORE = -2.2250738585072015e-130

WORST_PROVIDERS = {
    "astral": "\U0010fffd" * MAX_PROVIDER_LENGTH,  # four UTF-8 bytes each; twelve as a \u escape pair
    "emoji": "\U0001f600" * MAX_PROVIDER_LENGTH,
    "lower-grows": "\u0130" * MAX_PROVIDER_LENGTH,  # 64 characters sent, 128 after lower()
    "lower-grows-in-bytes": "\u023a" * MAX_PROVIDER_LENGTH,  # two UTF-8 bytes, three after lower()
}


def longest_items(provider: str) -> list[Item]:
    return [
        validate_item(
            {
                "model_name": f"{provider.encode().hex()[:8]}-{index}-".ljust(MAX_NAME_LENGTH, "z"),
                "provider": provider,
                "version": "v" * MAX_TEXT_LENGTH,
                "release_date": "2024-12-31",
                "context_window": MAX_SAFE_INTEGER,
                "score": LONGEST_SCORE,
            }
        )
        for index in range(ITEMS_PER_PROVIDER)
    ]


@pytest.fixture(scope="module")
def catalogue() -> list[Item]:
    return [item for provider in WORST_PROVIDERS.values() for item in longest_items(provider)]


@pytest.fixture
def serving(catalogue: list[Item], use_service: Any) -> list[Item]:
    load = lambda: ScanResult(list(catalogue), 0, 1, 0.0)  # noqa: E731
    use_service(ScoresService.from_settings(unit_settings(), load=load, jitter_ratio=0))
    return catalogue


def walk(query: dict[str, str]) -> tuple[list[str], list[str]]:
    """Every page of `query` at limit=1 through the Lambda handler: the names listed and the tokens issued."""
    names: list[str] = []
    tokens: list[str] = []
    parameters = dict(query, limit="1")
    while True:
        response = app(api_gateway_event("/llms", parameters), LambdaContext())
        assert response["statusCode"] == 200, (len(tokens[-1]) if tokens else None, response["body"][:200])
        body = json.loads(response["body"])
        names += [item["model_name"] for item in body["items"]]
        if "next_token" not in body:
            return names, tokens
        tokens.append(body["next_token"])
        parameters = dict(query, limit="1", next_token=body["next_token"])


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("sort", SORT_FIELDS)
@pytest.mark.parametrize("provider", WORST_PROVIDERS, ids=list(WORST_PROVIDERS))
def test_every_token_issued_is_accepted_at_the_longest_provider_the_contract_allows(serving, provider, sort, order):
    names, tokens = walk({"provider": WORST_PROVIDERS[provider], "sort": sort, "order": order})
    expected = {item["model_name"] for item in longest_items(WORST_PROVIDERS[provider])}
    assert sorted(names) == sorted(expected)
    assert len(tokens) == ITEMS_PER_PROVIDER - 1
    assert max(map(len, tokens)) <= MAX_TOKEN_LENGTH


def test_token_length_limit_is_the_contracts():
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    assert spec["components"]["parameters"]["NextToken"]["schema"]["maxLength"] == MAX_TOKEN_LENGTH
    assert spec["components"]["schemas"]["ItemPage"]["properties"]["next_token"]["maxLength"] == MAX_TOKEN_LENGTH
    assert spec["components"]["parameters"]["Provider"]["schema"]["maxLength"] == MAX_PROVIDER_LENGTH
