"""One structured JSON line per request, and the container's CloudWatch metrics as batched EMF.

The request line is written by hand with `json.dumps`: through Powertools'
Logger with its Metrics merged in, the same line cost about eight times the CPU
and twice the bytes (docs/performance.md has the measurement). Metrics go into
a `MetricBatch`, written into whichever line is due (see chalicelib/metrics.py),
so CloudWatch extracts them from the log with no PutMetricData calls. Powertools'
Logger still writes the rare lines: warnings, and errors with their stack trace.
Whole events and headers are never logged: they can carry credentials.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from chalice.app import Request, Response

from chalicelib.cache import Refresh
from chalicelib.config import settings
from chalicelib.contract import INTERNAL_ERROR
from chalicelib.metrics import ROUTINE_COUNTERS, MetricBatch
from chalicelib.responses import ApiError, error_response

logger = Logger(service=settings.service_name, level=settings.log_level)
metrics = MetricBatch(settings.metrics_namespace, settings.service_name)

_cold_start = True


def take_cold_start() -> bool:
    """True for the first invocation this container serves, HTTP or warm-up; False after."""
    global _cold_start
    cold, _cold_start = _cold_start, False
    return cold


@dataclass
class RequestRecord:
    """What the handler learned about one request, read back by the middleware to write the log line."""

    request_id: str
    cache_state: str | None = None
    items_returned: int | None = None
    refresh: Refresh | None = None
    error_code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_current: ContextVar[RequestRecord | None] = ContextVar("current_request", default=None)


def current_record() -> RequestRecord:
    """The record of the request being handled (a throwaway one outside a request)."""
    record = _current.get()
    return record if record is not None else RequestRecord(request_id=uuid.uuid4().hex)


def _request_id(request: Request) -> str:
    request_id = (request.context or {}).get("requestId")
    if request_id:
        return str(request_id)
    lambda_context = getattr(request, "lambda_context", None)
    return str(getattr(lambda_context, "aws_request_id", "") or uuid.uuid4().hex)


def _add_refresh_metrics(refresh: Refresh | None) -> None:
    if refresh is None:
        return
    metrics.sample("DynamoDBLatency", refresh.duration_milliseconds)
    if refresh.error is not None:
        metrics.count("DynamoDBErrors")
    if refresh.skipped_items:
        metrics.count("SkippedItems", refresh.skipped_items)


def write_line(line: dict[str, Any]) -> None:
    """Writes one JSON line to the log stream Powertools' Logger writes to, so both keep one order."""
    handler = logger.registered_handler
    text = json.dumps(line, separators=(",", ":"), default=str) + "\n"
    handler.acquire()
    try:
        handler.stream.write(text)  # type: ignore[attr-defined]  # Powertools' handler is a StreamHandler
        handler.flush()
    finally:
        handler.release()


def _write_metrics(documents: Sequence[dict[str, Any]]) -> None:
    for document in documents:
        write_line({"level": "INFO", "message": "metrics", **document})


def write_held_metrics() -> None:
    """Writes every metric the batch holds now, due or not, each document in a line of its own."""
    _write_metrics(metrics.take())


def discard_held_metrics() -> None:
    """Drops what the batch holds, unwritten: after a SnapStart restore, those values are the snapshot's."""
    metrics.discard()


def log_unexpected_refresh_error(error: BaseException) -> None:
    """The stack trace of a refresh that failed for a reason other than DynamoDB being unreachable."""
    logger.error("catalogue refresh failed unexpectedly", exc_info=error)


def log_dependency_failure(dependency: str, error: BaseException) -> None:
    """What the deep health check found, for operators only: the public answer names nothing."""
    logger.warning("dependency check failed", extra={"dependency": dependency, "error": str(error)[:500]})


def _log_skipped_items(refresh: Refresh) -> None:
    logger.warning(
        "skipped malformed items",
        extra={
            "skipped_items": refresh.skipped_items,
            "skipped": [{"key": skip.key, "reason": skip.reason} for skip in refresh.skipped],
        },
    )


def emit(message: str, fields: dict[str, Any], counters: dict[str, float], refresh: Refresh | None = None) -> None:
    """Writes one log line; `counters` (and the refresh's timings) join the metric batch, written here if due.

    Each refresh reaches exactly one `emit`, so its skipped rows are logged once per refresh.
    """
    if refresh is not None and refresh.skipped:
        _log_skipped_items(refresh)
    for name, value in counters.items():
        metrics.count(name, value)
    _add_refresh_metrics(refresh)
    line: dict[str, Any] = {"level": "INFO", "message": message, "service": settings.service_name, **fields}
    if refresh is not None:
        line["dynamodb_ms"] = round(refresh.duration_milliseconds, 3)
        if refresh.error is not None:
            line["dynamodb_error"] = refresh.error
    due = metrics.take_if_due()
    if logger.log_level > logging.INFO:
        # A quieter LOG_LEVEL drops the request lines, never the metrics the alarms read.
        _write_metrics(due)
    elif not due:
        write_line(line)
    elif routine(counters, refresh):
        # A routine hit's line stays small; the batches that happen to fall due go in lines of their own.
        write_line(line)
        _write_metrics(due)
    else:
        # News (a miss, an error, a cold start) makes the open batch due, so the newest document holds its
        # values: it goes in the news's own line. Earlier minutes' documents get their own lines, since a
        # line has room for one `_aws` and so one timestamp.
        *earlier, newest = due
        _write_metrics(earlier)
        line.update(newest)
        write_line(line)


def routine(counters: dict[str, float], refresh: Refresh | None) -> bool:
    """True for what nearly every request reports: counted, but nothing an alarm or an operator waits for."""
    return refresh is None and counters.keys() <= ROUTINE_COUNTERS


def _normalise_framework_error(response: Response, request_id: str) -> Response:
    """Chalice's own errors (405, 415) use `{"Code", "Message"}`; give them the API's error shape."""
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        extra = {name: str(value) for name, value in response.headers.items() if name.lower() == "allow"}
        return error_response(response.status_code, str(body["Code"]), str(body.get("Message", "")), request_id, extra)
    return response


def log_request(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice HTTP middleware: times the request and writes its one log line."""
    if request is None:
        # Not an API Gateway event (nor a warm-up ping): Chalice answers "Unknown request".
        logger.warning("non-HTTP event reached the API handler")
        return get_response(request)
    started = time.perf_counter()
    record = RequestRecord(request_id=_request_id(request))
    token = _current.set(record)
    try:
        response = _normalise_framework_error(get_response(request), record.request_id)
    finally:
        _current.reset(token)
    response.headers["X-Request-Id"] = record.request_id
    duration_milliseconds = (time.perf_counter() - started) * 1000
    cold_start = take_cold_start()
    status = response.status_code
    counters: dict[str, float] = {"Requests": 1}
    if record.cache_state is not None:
        counters[f"Cache{record.cache_state.capitalize()}"] = 1
    if cold_start:
        counters["ColdStart"] = 1
    if status >= 500:
        counters["ServerErrors"] = 1
    elif status >= 400:
        counters["ClientErrors"] = 1
    route = (request.context or {}).get("resourcePath")
    path = (request.context or {}).get("path")
    fields: dict[str, Any] = {
        "request_id": record.request_id,
        "method": request.method,
        "route": route,
        "status": status,
        "duration_ms": round(duration_milliseconds, 3),
        # Always present, so log queries need no null handling: NONE means the cache was not consulted.
        "cache": record.cache_state or "NONE",
        "items": record.items_returned or 0,
        "cold_start": cold_start,
        **record.extra,
    }
    if route is not None and "{" in route:
        # Only a route with parameters has a path that says more than the route itself.
        fields["path"] = path
    if record.error_code is not None:
        fields["error_code"] = record.error_code
    metrics.sample("Latency", duration_milliseconds)
    emit("request", fields, counters, record.refresh)
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
