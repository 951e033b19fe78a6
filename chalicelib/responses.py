"""HTTP responses: the JSON error shape, caching headers, ETags and the security headers every answer carries."""

from __future__ import annotations

from collections.abc import Callable

from chalice.app import Request, Response

from chalicelib.contract import ErrorCode
from chalicelib.encoding import json_text

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

# Sent on every response: this is a JSON API, never a page to render or frame.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class ApiError(Exception):
    """An error the client should see: one of the contract's codes, a message and any extra headers."""

    def __init__(self, error: ErrorCode, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = error.status
        self.code = error.code
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, request_id: str, headers: dict[str, str] | None = None
) -> Response:
    """`{"error": {"code", "message"}, "request_id"}` with headers that forbid caching."""
    body = json_text({"error": {"code": code, "message": message}, "request_id": request_id})
    return Response(
        body=body,
        status_code=status,
        headers={
            **SECURITY_HEADERS,
            "Content-Type": JSON_CONTENT_TYPE,
            "Cache-Control": "no-store",
            **(headers or {}),
        },
    )


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of an `If-None-Match` header against our ETag."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == opaque for candidate in if_none_match.split(","))


def cached_json_response(
    body: str | None, *, etag: str, cache_state: str, max_age_seconds: int, status: int = 200
) -> Response:
    """A cacheable answer; `body=None` gives `304 Not Modified` with the same validators."""
    headers: dict[str, str | list[str]] = {
        **SECURITY_HEADERS,
        "ETag": etag,
        "Cache-Control": f"public, max-age={max_age_seconds}",
        "X-Cache": cache_state,
        # Production compresses responses, so shared caches must key on the client's encoding.
        "Vary": "Accept-Encoding",
    }
    if body is None:
        return Response(body="", status_code=304, headers=headers)
    headers["Content-Type"] = JSON_CONTENT_TYPE
    return Response(body=body, status_code=status, headers=headers)


def uncached_json_response(body: str, *, status: int = 200) -> Response:
    """A JSON answer that must never be cached, such as a health check."""
    return Response(
        body=body,
        status_code=status,
        headers={**SECURITY_HEADERS, "Content-Type": JSON_CONTENT_TYPE, "Cache-Control": "no-store"},
    )


def answer_head_like_get(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice HTTP middleware: a HEAD gets GET's status and headers, without the body (RFC 9110 §9.3.2)."""
    response = get_response(request)
    if request is not None and request.method == "HEAD":
        response.body = ""
    return response
