"""Text no HTTP client should send, sent anyway, through the Lambda handler: a 4xx naming the input, never a 500.

A lone surrogate (U+D800-U+DFFF on its own) reaches Python when an event's JSON carries `"\\ud800"`:
it has no UTF-8 form, so hashing, logging or tokenising it raised. A trailing newline slipped
through patterns applied with `re.match` and `$`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import app
from chalicelib.repository import ScanResult
from chalicelib.service import ScoresService
from scripts.harness.lambda_events import LambdaContext, api_gateway_event

from .support import make_item, unit_settings

LONE_SURROGATE = "\ud800"


@pytest.fixture
def serving(use_service: Any) -> None:
    items = [make_item("gpt-4o", provider="OpenAI"), make_item("claude", provider="Anthropic")]
    load = lambda: ScanResult(items, 0, 1, 0.0)  # noqa: E731
    use_service(ScoresService.from_settings(unit_settings(), load=load, jitter_ratio=0))


def handle(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = app(event, LambdaContext())
    parsed = json.loads(response["body"]) if response["body"] else {}
    # No lone surrogate, escaped or not: strict JSON readers (serde_json, for one) refuse `"\ud800"`.
    json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    return response["statusCode"], parsed


def assert_invalid_parameter(status: int, body: dict[str, Any], parameter: str) -> None:
    assert status == 400, body
    assert body["error"]["code"] == "invalid_parameter"
    assert parameter in body["error"]["message"]


def test_a_lone_surrogate_in_provider_is_a_400_naming_it(serving):
    status, body = handle(api_gateway_event("/llms", {"provider": f"open{LONE_SURROGATE}ai"}))
    assert_invalid_parameter(status, body, "provider")


@pytest.mark.parametrize("name", ["sort", "order", "limit", "next_token"])
def test_a_lone_surrogate_in_any_list_parameter_is_a_400_naming_it(serving, name):
    status, body = handle(api_gateway_event("/llms", {name: LONE_SURROGATE}))
    assert_invalid_parameter(status, body, name)


def test_a_lone_surrogate_in_a_parameter_name_is_a_400(serving):
    status, body = handle(api_gateway_event("/llms", {f"provider{LONE_SURROGATE}": "openai"}))
    assert_invalid_parameter(status, body, "provider")


def test_a_lone_surrogate_in_deep_is_a_400_naming_it(serving):
    status, body = handle(api_gateway_event("/health", {"deep": f"true{LONE_SURROGATE}"}))
    assert_invalid_parameter(status, body, "deep")


def test_a_lone_surrogate_in_model_name_is_a_400_naming_it(serving):
    event = api_gateway_event("/llms/gpt-4o")
    event["pathParameters"] = {"model_name": f"gpt-4o{LONE_SURROGATE}"}
    status, body = handle(event)
    assert_invalid_parameter(status, body, "model_name")


@pytest.mark.parametrize("header", ["If-None-Match", "Origin"])
def test_a_lone_surrogate_in_a_header_the_api_reads_is_ignored(serving, header):
    status, body = handle(api_gateway_event("/llms", {"limit": "1"}, headers={header: LONE_SURROGATE}))
    assert status == 200 and body["count"] == 1


def test_limit_with_a_trailing_newline_is_a_400_like_a_trailing_space(serving):
    for limit in ("2\n", "2 "):
        status, body = handle(api_gateway_event("/llms", {"limit": limit}))
        assert_invalid_parameter(status, body, "limit")


def test_next_token_with_a_trailing_newline_is_a_400(serving):
    status, body = handle(api_gateway_event("/llms", {"limit": "1"}))
    assert status == 200
    status, body = handle(api_gateway_event("/llms", {"limit": "1", "next_token": body["next_token"] + "\n"}))
    assert_invalid_parameter(status, body, "next_token")
