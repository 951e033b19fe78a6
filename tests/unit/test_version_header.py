"""Every answer names the Lambda version and the commit behind it (`X-Api-Version`, chalicelib/version.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app import app
from chalicelib import version
from scripts.harness.lambda_events import LambdaContext, api_gateway_event

from .support import make_item

pytestmark = pytest.mark.unit


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    version.running_version.cache_clear()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "42")
    monkeypatch.setenv("SOURCE_COMMIT", "0123456789abcdef0123456789abcdef01234567")
    yield
    version.running_version.cache_clear()


def served_version(
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    query: dict[str, str | list[str]] | None = None,
) -> tuple[int, str]:
    response = app(api_gateway_event(path, query=query, method=method, headers=headers), LambdaContext())
    return response["statusCode"], response["headers"][version.VERSION_HEADER]


def test_every_kind_of_answer_names_the_published_version_and_commit(fresh_service, put_items, published):
    put_items(make_item("gpt-4o"))
    expected = "lambda=42; commit=0123456789abcdef0123456789abcdef01234567"
    etag = app(api_gateway_event("/llms"), LambdaContext())["headers"]["ETag"]
    answers = [
        served_version("/health"),
        served_version("/llms"),
        served_version("/llms", headers={"If-None-Match": etag}),
        served_version("/llms/gpt-4o", method="HEAD"),
        served_version("/llms/no-such-model"),
        served_version("/llms", query={"limit": "0"}),
        served_version("/llms", method="DELETE"),
    ]
    assert [status for status, _ in answers] == [200, 200, 304, 200, 404, 400, 405]
    assert {value for _, value in answers} == {expected}
    assert version.parse_version(expected) == {"lambda": "42", "commit": "0123456789abcdef0123456789abcdef01234567"}


def test_locally_the_version_is_latest_and_the_commit_unknown(fresh_service, monkeypatch):
    version.running_version.cache_clear()
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_VERSION", raising=False)
    monkeypatch.delenv("SOURCE_COMMIT", raising=False)
    try:
        assert served_version("/health") == (200, "lambda=$LATEST; commit=unknown")
    finally:
        version.running_version.cache_clear()


@pytest.mark.parametrize(
    ("lambda_version", "commit", "expected"),
    [
        ("7", "v1.2+dirty", "lambda=7; commit=v1.2+dirty"),
        ("7", "a b\r\nSet-Cookie: x", "lambda=7; commit=unknown"),  # never echo a value that could split a header
        ("7", "x" * 65, "lambda=7; commit=unknown"),
        ("latest", "abc", "lambda=$LATEST; commit=abc"),
    ],
)
def test_an_unreadable_version_or_commit_falls_back_rather_than_reaching_the_header(lambda_version, commit, expected):
    assert version.format_version(lambda_version, commit) == expected
