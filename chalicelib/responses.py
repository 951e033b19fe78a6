"""HTTP responses: the JSON error shape, caching headers, ETags and the security headers every answer carries.

Errors become answers here too: `handle_errors` turns a view's exceptions into that shape, noting
the code on the request's record for the log line, and `reshape_framework_errors` gives Chalice's
own errors (405, 415) that shape as well.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chalice.app import Request, Response

from chalicelib.contract import INTERNAL_ERROR, ErrorCode
from chalicelib.encoding import json_text
from chalicelib.observability import current_record, logger
from chalicelib.version import VERSION_HEADER, running_version

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


def add_version_header(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice HTTP middleware: every answer names the Lambda version and commit behind it (chalicelib/version.py).

    Registered next to the outermost middleware, so errors, 304s and preflights carry it too. An event that is
    not an HTTP request (no request) keeps Chalice's bare "Unknown request." answer, as warmup.py gives it.
    """
    response = get_response(request)
    if request is not None:
        response.headers[VERSION_HEADER] = running_version()
    return response


def handle_errors(view: Callable[..., Response]) -> Callable[..., Response]:
    """Turns `ApiError` into its JSON answer and anything unexpected into a logged, trace-free 500."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Response:
        record = current_record()
        try:
            return view(*args, **kwargs)
        except ApiError as error:
            record.error_code = error.code
            return error_response(error.status, error.code, error.message, record.request_id, error.headers)
        except Exception:
            record.error_code = INTERNAL_ERROR.code
            logger.exception("unhandled error", extra={"request_id": record.request_id})
            return error_response(
                INTERNAL_ERROR.status, INTERNAL_ERROR.code, "An internal error occurred.", record.request_id
            )

    return guarded


def reshape_framework_errors(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice HTTP middleware, inside log_request: Chalice's own errors (405, 415) get the API's error shape.

    Chalice answers them with `{"Code", "Message"}`. Inside log_request, the body names the request id
    that log_request records and sends as `X-Request-Id`; `Allow` is the one header kept.
    """
    response = get_response(request)
    body = response.body
    if request is None or response.status_code < 400 or not isinstance(body, dict) or "Code" not in body:
        return response
    allow = {name: str(value) for name, value in response.headers.items() if name.lower() == "allow"}
    message = str(body.get("Message", ""))
    return error_response(response.status_code, str(body["Code"]), message, current_record().request_id, allow)
