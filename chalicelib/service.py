"""The API's behaviour: each route's handler, built on the cache, the query rules and the response helpers.

The repository and the cache are created here, at import, so a container pays
for the DynamoDB client once and every later request finds it ready.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any
from urllib.parse import unquote

from chalice.app import Request, Response

from chalicelib.cache import STALE, CacheRead, DataUnavailable, SnapshotCache
from chalicelib.config import settings
from chalicelib.encoding import json_text
from chalicelib.models import MAX_NAME_LENGTH
from chalicelib.observability import current_record, emit, handle_errors, take_cold_start
from chalicelib.query import InvalidParameter, encode_token, parse_health_query, parse_list_query, reject_any_query
from chalicelib.repository import DynamoDBUnavailable, ScoresRepository, create_client
from chalicelib.responses import ApiError, cached_json_response, etag_matches, uncached_json_response

# Lambda caps a synchronous response at 6 MiB; pages stop short of this so headers and envelope always fit.
MAX_PAGE_PAYLOAD_BYTES = 5 * 1024 * 1024

# Identifies this container in warm-up reports, so the warmer can count distinct containers.
CONTAINER_ID = uuid.uuid4().hex

repository = ScoresRepository(create_client(settings), settings.table_name)
cache = SnapshotCache(
    repository.scan_all,
    ttl_seconds=settings.cache_ttl_seconds,
    jitter_ratio=settings.cache_ttl_jitter_ratio,
    max_stale_seconds=settings.cache_max_stale_seconds,
    retry_after_seconds=settings.cache_retry_after_seconds,
)


def _query_parameters(request: Request) -> Any:
    return request.to_original_event().get("multiValueQueryStringParameters")


def _bad_parameter(error: InvalidParameter) -> ApiError:
    return ApiError(400, "invalid_parameter", str(error))


def _read_catalogue() -> CacheRead:
    record = current_record()
    try:
        read = cache.read()
    except DataUnavailable as error:
        record.refresh = error.refresh
        record.cache_state = None
        raise ApiError(
            503,
            "service_unavailable",
            "The catalogue is temporarily unavailable; retry after the number of seconds in Retry-After.",
            {"Retry-After": str(error.retry_after_seconds)},
        ) from error
    record.cache_state = read.state
    record.refresh = read.refresh
    return read


def _max_age(read: CacheRead) -> int:
    # Stale data is served honestly but briefly: clients should come back once DynamoDB recovers.
    if read.state == STALE:
        return min(settings.http_max_age_seconds, settings.cache_retry_after_seconds)
    return settings.http_max_age_seconds


def _etag(*parts: str) -> str:
    return '"' + hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest() + '"'


@handle_errors
def list_llms(request: Request) -> Response:
    """`GET /llms`: one page of the catalogue, filtered, sorted and paginated."""
    try:
        query = parse_list_query(_query_parameters(request))
    except InvalidParameter as error:
        raise _bad_parameter(error) from None
    read = _read_catalogue()
    snapshot = read.snapshot
    record = current_record()
    etag = _etag(snapshot.digest, query.view_key, str(query.limit), repr(query.after))
    if etag_matches(request.headers.get("if-none-match"), etag):
        record.items_returned = 0
        return cached_json_response(None, etag=etag, cache_state=read.state, max_age_seconds=_max_age(read))
    view = snapshot.view(query.provider, query.sort, query.order)
    start = 0 if query.after is None else view.start_after(query.after)
    end = view.page_end(start, query.limit, MAX_PAGE_PAYLOAD_BYTES)
    names = view.names[start:end]
    body = f'{{"items":{snapshot.join_encoded(names)},"count":{len(names)}'
    if end < len(view.names):
        body += f',"next_token":{json_text(encode_token(query.view_key, view.keys[end - 1]))}'
    record.items_returned = len(names)
    return cached_json_response(body + "}", etag=etag, cache_state=read.state, max_age_seconds=_max_age(read))


@handle_errors
def get_llm(request: Request, model_name: str) -> Response:
    """`GET /llms/{model_name}`: one item, or 404."""
    try:
        reject_any_query(_query_parameters(request))
    except InvalidParameter as error:
        raise _bad_parameter(error) from None
    name = unquote(model_name)
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ApiError(400, "invalid_parameter", f"'model_name' must be 1 to {MAX_NAME_LENGTH} characters")
    read = _read_catalogue()
    text = read.snapshot.encoded.get(name)
    if text is None:
        raise ApiError(404, "not_found", f"no model named '{name}'")
    etag = _etag(text)
    current_record().items_returned = 1
    if etag_matches(request.headers.get("if-none-match"), etag):
        return cached_json_response(None, etag=etag, cache_state=read.state, max_age_seconds=_max_age(read))
    return cached_json_response(text, etag=etag, cache_state=read.state, max_age_seconds=_max_age(read))


@handle_errors
def health(request: Request) -> Response:
    """`GET /health`: liveness without touching DynamoDB; `?deep=true` also checks the table."""
    try:
        deep = parse_health_query(_query_parameters(request))
    except InvalidParameter as error:
        raise _bad_parameter(error) from None
    if not deep:
        return uncached_json_response('{"status":"ok"}')
    try:
        repository.check_table()
    except DynamoDBUnavailable as error:
        raise ApiError(
            503,
            "dependency_unavailable",
            f"DynamoDB check failed: {error}",
            {"Retry-After": str(settings.cache_retry_after_seconds)},
        ) from error
    return uncached_json_response(json_text({"status": "ok", "checks": {"dynamodb": "ok"}, "cache": cache.status()}))


def warm_container(hold_milliseconds: int) -> dict[str, Any]:
    """Answers a warm-up ping: refresh the cache if due, then hold so parallel pings reach distinct containers."""
    cold_start = take_cold_start()
    refresh = None
    try:
        read = cache.read()
        state, items, refresh = read.state, len(read.snapshot), read.refresh
    except DataUnavailable as error:
        state, items, refresh = "UNAVAILABLE", 0, error.refresh
    time.sleep(hold_milliseconds / 1000)
    report = {"container_id": CONTAINER_ID, "cold_start": cold_start, "cache": state, "items": items}
    emit("warm-up ping", dict(report), {"WarmupPings": 1, **({"ColdStart": 1} if cold_start else {})}, refresh)
    return report
