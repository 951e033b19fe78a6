"""The HTTP middlewares run in the order docs/architecture.md gives, and each reason given for it holds.

The reasons are tested by reordering the registered middlewares for one test and showing what
breaks, next to the same request under the real order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app import app
from chalicelib import cors
from chalicelib.cors import CorsPolicy, add_cors_headers, answer_options
from chalicelib.observability import log_request
from chalicelib.responses import add_version_header, answer_head_like_get, reshape_framework_errors
from scripts.harness.lambda_events import LambdaContext, api_gateway_event

from .support import make_item

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "https://scores.example.com"
REGISTERED = [
    add_cors_headers,
    add_version_header,
    log_request,
    reshape_framework_errors,
    answer_options,
    answer_head_like_get,
]


@pytest.fixture
def cors_on() -> Iterator[None]:
    previous = cors.replace_cors_policy(CorsPolicy(frozenset({ORIGIN})))
    yield
    cors.replace_cors_policy(previous)


@pytest.fixture
def catalogue(fresh_service: Any, put_items: Callable[..., None]) -> None:
    put_items(make_item("gpt-4o"))


@pytest.fixture
def middleware_order(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[Callable[..., Any]]], None]:
    """Registers the HTTP middlewares in another order for one test."""

    def reorder(order: list[Callable[..., Any]]) -> None:
        monkeypatch.setattr(app, "middleware_handlers", [(handler, "http") for handler in order])

    return reorder


def send(method: str, path: str = "/llms") -> dict[str, Any]:
    response = app(api_gateway_event(path, headers={"Origin": ORIGIN}, method=method), LambdaContext())
    response["headers"] = {name.lower(): value for name, value in response["headers"].items()}
    return response


def documented_order() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Middleware order", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\d+\. `(?:\w+\.)?(\w+)`", section, flags=re.MULTILINE)


def test_middlewares_run_in_the_order_the_architecture_documents():
    assert [handler for handler, kind in app.middleware_handlers if kind == "http"] == REGISTERED
    assert documented_order() == [handler.__name__ for handler in REGISTERED]


def test_architecture_lists_the_cors_module():
    layout = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").split("## Import direction", 1)[0]
    assert "| `chalicelib/cors.py` |" in layout


def test_cors_headers_outermost_reach_chalices_own_405_and_inside_log_request_would_not(
    catalogue, cors_on, middleware_order
):
    assert send("DELETE")["headers"]["access-control-allow-origin"] == ORIGIN
    middleware_order([log_request, reshape_framework_errors, add_cors_headers, answer_options, answer_head_like_get])
    moved = send("DELETE")
    assert moved["statusCode"] == 405 and "access-control-allow-origin" not in moved["headers"]


def test_preflight_inside_log_request_is_logged_and_outside_it_would_not_be(catalogue, cors_on, middleware_order):
    answered = send("OPTIONS")
    assert answered["statusCode"] == 204 and "x-request-id" in answered["headers"]
    middleware_order([add_cors_headers, answer_options, log_request, reshape_framework_errors, answer_head_like_get])
    moved = send("OPTIONS")
    assert moved["statusCode"] == 204 and "x-request-id" not in moved["headers"]


def test_refused_options_gets_the_api_error_shape_only_inside_log_request(catalogue, middleware_order):
    assert set(json.loads(send("OPTIONS")["body"])) == {"error", "request_id"}
    middleware_order([add_cors_headers, answer_options, log_request, reshape_framework_errors, answer_head_like_get])
    assert set(json.loads(send("OPTIONS")["body"])) == {"Code", "Message"}


def test_without_answer_options_a_route_would_answer_options_as_get(catalogue, cors_on, middleware_order):
    middleware_order([add_cors_headers, log_request, reshape_framework_errors, answer_head_like_get])
    moved = send("OPTIONS")
    assert moved["statusCode"] == 200 and json.loads(moved["body"])["count"] == 1


def test_framework_errors_reshaped_inside_log_request_name_its_request_id_and_outside_it_would_not(
    catalogue, middleware_order, log_lines
):
    answered = send("DELETE")
    logged = log_lines()[-1]["request_id"]
    assert answered["statusCode"] == 405
    assert json.loads(answered["body"])["request_id"] == answered["headers"]["x-request-id"] == logged
    middleware_order([add_cors_headers, reshape_framework_errors, log_request, answer_options, answer_head_like_get])
    moved = send("DELETE")
    assert moved["statusCode"] == 405 and "x-request-id" not in moved["headers"]
    assert json.loads(moved["body"])["request_id"] != log_lines()[-1]["request_id"]
