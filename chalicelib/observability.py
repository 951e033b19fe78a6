"""One structured JSON line per request, and the container's CloudWatch metrics as batched EMF.

A leaf that every other module may log through: it imports the settings, the metric batch and the
refresh record, nothing that reads data or answers requests. Turning errors into answers is
chalicelib/responses.py's.

The request line is written by hand with `json.dumps`: through Powertools'
Logger with its Metrics merged in, the same line cost about eight times the CPU
and twice the bytes (docs/performance.md has the measurement). Metrics go into
a `MetricBatch`, written into whichever line is due (see chalicelib/metrics.py),
so CloudWatch extracts them from the log with no PutMetricData calls. The rare
lines (warnings, and errors with their stack trace) go through the standard
library's `logging`, as JSON in the shape Powertools' Logger wrote them
([decision 0016](../docs/decisions/0016-logging-without-powertools.md)).
Whole events and headers are never logged: they can carry credentials.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from chalice.app import Request, Response

from chalicelib.config import settings
from chalicelib.metrics import ROUTINE_COUNTERS, MetricBatch
from chalicelib.refresh_record import RefreshRecord

# Every attribute a LogRecord has before `extra` is merged in: whatever else it holds came from `extra`.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the keys Powertools' Logger wrote: what operators' queries read.

    `level`, `location` (function:line), `message`, `timestamp` (ISO 8601, UTC), `service`, then the
    record's `extra` fields, then `exception` (the formatted trace) and `exception_name` for errors.
    """

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        created = time.gmtime(record.created)
        line: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", created) + f".{int(record.msecs):03d}Z",
            "service": self.service,
        }
        line.update((key, value) for key, value in record.__dict__.items() if key not in _RECORD_ATTRIBUTES)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = self.formatException(record.exc_info)
            line["exception_name"] = record.exc_info[0].__name__
        return json.dumps(line, separators=(",", ":"), default=str)


def _build_logger(handler: logging.StreamHandler[Any]) -> logging.Logger:
    """The service's logger, writing through `handler` alone.

    Named as the Chalice app is, whose `configure_logs=False` (app.py) leaves its level to this module.
    It does not propagate, so Lambda's root handler does not write each line again as text.
    """
    built = logging.getLogger("llm-scores")
    for previous in list(built.handlers):  # a second build (a reload in tests) must not write twice
        built.removeHandler(previous)
    handler.setFormatter(JsonFormatter(settings.service_name))
    built.addHandler(handler)
    built.propagate = False
    built.setLevel(settings.log_level)
    return built


# stdout, where Lambda sends it to CloudWatch Logs; `write_line` writes the hand-made lines to the same stream.
log_handler: logging.StreamHandler[Any] = logging.StreamHandler(sys.stdout)
logger = _build_logger(log_handler)
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
    refresh: RefreshRecord | None = None
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


def _add_refresh_metrics(refresh: RefreshRecord | None) -> None:
    if refresh is None:
        return
    metrics.sample("DynamoDBLatency", refresh.duration_milliseconds)
    if refresh.error is not None:
        metrics.count("DynamoDBErrors")
    if refresh.skipped_items:
        metrics.count("SkippedItems", refresh.skipped_items)


def write_line(line: dict[str, Any]) -> None:
    """Writes one JSON line to the stream the logger's handler writes to, under its lock, so both keep one order."""
    text = json.dumps(line, separators=(",", ":"), default=str) + "\n"
    log_handler.acquire()
    try:
        log_handler.stream.write(text)
        log_handler.flush()
    finally:
        log_handler.release()


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


def record_version_check_failure(error: BaseException) -> None:
    """A catalogue-version check that failed: changes now reach this container only at its TTL.

    At most one per container per check interval (CATALOGUE_VERSION_CHECK_SECONDS), so it is logged every time.
    The count is not routine, so it is written with the next log line (an alarm opens a ticket on it).
    """
    metrics.count("CatalogueVersionCheckFailures")
    logger.warning("catalogue version check failed", extra={"error": (str(error) or type(error).__name__)[:500]})


def log_dependency_failure(dependency: str, error: BaseException) -> None:
    """What the deep health check found, for operators only: the public answer names nothing."""
    logger.warning("dependency check failed", extra={"dependency": dependency, "error": str(error)[:500]})


def _log_skipped_items(refresh: RefreshRecord) -> None:
    logger.warning(
        "skipped malformed items",
        extra={
            "skipped_items": refresh.skipped_items,
            "skipped": [{"key": skip.key, "reason": skip.reason} for skip in refresh.skipped],
        },
    )


def log_event(
    message: str, fields: dict[str, Any], counters: dict[str, float], refresh: RefreshRecord | None = None
) -> None:
    """Writes one log line; `counters` (and the refresh's timings) join the metric batch, written here if due.

    Each refresh reaches exactly one `log_event`, so its skipped rows are logged once per refresh.
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
    if not logger.isEnabledFor(logging.INFO):
        # A quieter LOG_LEVEL drops the request lines, never the metrics the alarms read.
        _write_metrics(due)
    elif not due:
        write_line(line)
    elif is_routine_hit(counters, refresh):
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


def is_routine_hit(counters: dict[str, float], refresh: RefreshRecord | None) -> bool:
    """True for what nearly every request reports: counted, but nothing an alarm or an operator waits for."""
    return refresh is None and counters.keys() <= ROUTINE_COUNTERS


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
        response = get_response(request)
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
    log_event("request", fields, counters, record.refresh)
    return response
