"""The API's behaviour: each route's handler, built on the cache, the query rules and the response helpers.

One `ScoresService` per container holds the DynamoDB client and the snapshot
cache, so a container pays for them once and every later request finds them
ready. `current_service()` builds it from the environment on first use;
`replace_service()` swaps in another one (tests, benchmarks) without patching globals.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from chalice.app import Request, Response

from chalicelib import catalogue_version
from chalicelib.cache import STALE, CacheRead, DataUnavailable, SnapshotCache
from chalicelib.config import Settings, settings
from chalicelib.contract import DEPENDENCY_UNAVAILABLE, NOT_FOUND, SERVICE_UNAVAILABLE
from chalicelib.encoding import json_text
from chalicelib.health import DependencyProbe
from chalicelib.models import MAX_NAME_LENGTH, SURROGATE
from chalicelib.observability import (
    current_record,
    log_dependency_failure,
    log_unexpected_refresh_error,
    record_version_check_failure,
)
from chalicelib.query import (
    InvalidParameter,
    encode_token,
    parse_health_query,
    parse_item_query,
    parse_list_query,
)
from chalicelib.repository import ScanResult, ScoresRepository, create_client
from chalicelib.responses import ApiError, cached_json_response, etag_matches, handle_errors, uncached_json_response

# Lambda caps a synchronous response at 6 MiB; pages stop short of this so headers and envelope always fit.
MAX_PAGE_PAYLOAD_BYTES = 5 * 1024 * 1024


def build_cache(settings: Settings, load: Callable[[], ScanResult], **overrides: Any) -> SnapshotCache:
    """The snapshot cache over `load` (a table scan), tuned by `settings`; `overrides` replace any keyword."""
    options: dict[str, Any] = {
        "ttl_seconds": settings.cache_ttl_seconds,
        "jitter_ratio": settings.cache_ttl_jitter_ratio,
        "max_stale_seconds": settings.cache_max_stale_seconds,
        "retry_after_seconds": settings.cache_retry_after_seconds,
        "on_unexpected_error": log_unexpected_refresh_error,
        "on_version_check_failure": record_version_check_failure,
        "refresh_deadline_seconds": settings.cache_refresh_deadline_seconds,
        "version_check_seconds": settings.catalogue_version_check_seconds,
        "version_check_deadline_seconds": settings.catalogue_version_check_deadline_seconds,
        **overrides,
    }
    return SnapshotCache(load, **options)


def build_dependency_probe(settings: Settings, repository: ScoresRepository, **overrides: Any) -> DependencyProbe:
    """The deep health check's probe of `repository`, tuned by `settings`; `overrides` replace any keyword."""
    options: dict[str, Any] = {
        "interval_seconds": settings.health_check_interval_seconds,
        "deadline_seconds": settings.cache_refresh_deadline_seconds,
        "on_failure": functools.partial(log_dependency_failure, "dynamodb"),
        **overrides,
    }
    return DependencyProbe(repository.probe, **options)


def _query_parameters(request: Request) -> Any:
    return request.to_original_event().get("multiValueQueryStringParameters")


def _etag(*parts: str) -> str:
    # Weak: API Gateway may compress the body, and a strong validator must change with the content coding.
    return 'W/"' + hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest() + '"'


class ScoresService:
    """The catalogue as the API serves it: one per container."""

    def __init__(
        self,
        settings: Settings,
        repository: ScoresRepository,
        cache: SnapshotCache,
        page_payload_budget_bytes: int = MAX_PAGE_PAYLOAD_BYTES,
        dependency_probe: DependencyProbe | None = None,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.cache = cache
        self.page_payload_budget_bytes = page_payload_budget_bytes
        self.dependency_probe = dependency_probe or build_dependency_probe(settings, repository)
        # Identifies this container in warm-up reports, so the warmer can count distinct containers.
        self.container_id = uuid.uuid4().hex

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        client: Any | None = None,
        load: Callable[[], ScanResult] | None = None,
        **cache_overrides: Any,
    ) -> ScoresService:
        """The service for `settings`.

        `client` replaces the DynamoDB client (one built or instrumented elsewhere), `load` replaces
        the table scan the cache refreshes from, and `cache_overrides` any of the cache's keywords.
        """
        repository = ScoresRepository(client if client is not None else create_client(settings), settings.table_name)
        if settings.catalogue_version_check_seconds > 0 and load is None:
            # The version of the table the cache scans, through the same client; a caller that replaces the
            # scan with its own `load` has no such table, and may pass its own `read_version`.
            cache_overrides.setdefault(
                "read_version",
                functools.partial(catalogue_version.read_version, repository.client, settings.table_name),
            )
        return cls(settings, repository, build_cache(settings, load or repository.scan_all, **cache_overrides))

    def renew_identity(self) -> None:
        """A new container id, for a container restored from a snapshot that carried another one's."""
        self.container_id = uuid.uuid4().hex

    def read_catalogue(self) -> CacheRead:
        """The snapshot to serve, recorded on the request; 503 with `Retry-After` when there is none."""
        try:
            return self._read_recorded()
        except DataUnavailable as error:
            raise ApiError(
                SERVICE_UNAVAILABLE,
                "The catalogue is temporarily unavailable; retry after the number of seconds in Retry-After.",
                {"Retry-After": str(error.retry_after_seconds)},
            ) from error

    def _read_recorded(self) -> CacheRead:
        """`cache.read()`, with its cache state and any refresh recorded on the request, whether it served or not."""
        record = current_record()
        try:
            read = self.cache.read()
        except DataUnavailable as error:
            record.refresh = error.refresh
            raise
        record.cache_state = read.state
        record.refresh = read.refresh
        return read

    def _cached(self, body: str | None, etag: str, read: CacheRead) -> Response:
        # Stale data is served honestly but briefly: clients should come back once DynamoDB recovers.
        max_age = self.settings.http_max_age_seconds
        if read.state == STALE:
            max_age = min(max_age, self.settings.cache_retry_after_seconds)
        return cached_json_response(body, etag=etag, cache_state=read.state, max_age_seconds=max_age)

    @handle_errors
    def list_llms(self, request: Request) -> Response:
        """`GET /llms`: one page of the catalogue, filtered, sorted and paginated."""
        query = parse_list_query(_query_parameters(request))
        read = self.read_catalogue()
        snapshot = read.snapshot
        record = current_record()
        etag = _etag(snapshot.digest, query.view_key, str(query.limit), repr(query.after))
        if etag_matches(request.headers.get("if-none-match"), etag):
            record.items_returned = 0
            return self._cached(None, etag, read)
        view = snapshot.view(query.provider, query.sort, query.order)
        start = 0 if query.after is None else view.start_after(query.after)
        end = view.page_end(start, query.limit, self.page_payload_budget_bytes)
        body = f'{{"items":{view.json_array(start, end)},"count":{end - start}'
        if end < len(view.names):
            token = view.token_after(end - 1, lambda key: json_text(encode_token(query.view_key, key)))
            body += f',"next_token":{token}'
        record.items_returned = end - start
        return self._cached(body + "}", etag, read)

    @handle_errors
    def get_llm(self, request: Request, model_name: str) -> Response:
        """`GET /llms/{model_name}`: one item, or 404."""
        parse_item_query(_query_parameters(request))
        name = unquote(model_name)
        if not name or len(name) > MAX_NAME_LENGTH:
            raise InvalidParameter("model_name", f"'model_name' must be 1 to {MAX_NAME_LENGTH} characters")
        if SURROGATE.search(name):
            raise InvalidParameter("model_name", "'model_name' must be valid Unicode text (it holds a lone surrogate)")
        read = self.read_catalogue()
        text = read.snapshot.encoded.get(name)
        if text is None:
            raise ApiError(NOT_FOUND, f"no model named '{name}'")
        etag = _etag(text)
        current_record().items_returned = 1
        if etag_matches(request.headers.get("if-none-match"), etag):
            return self._cached(None, etag, read)
        return self._cached(text, etag, read)

    @handle_errors
    def health(self, request: Request) -> Response:
        """`GET /health`: liveness without touching DynamoDB; `?deep=true`: can `/llms` be served now?

        The deep answer is 200 while a snapshot can be served, as `/llms` would serve it (a refresh
        included, when one is due), and 503 `dependency_unavailable` exactly when `/llms` would answer
        503. Beside that, the last read of the data plane says whether DynamoDB can be read now: this
        check's own refresh if it made one, else a one-row probe at most once per interval. "degraded"
        means still serving, but stale or with DynamoDB failing. The body holds states, counts and ages
        only: the causes go to the log.
        """
        if not parse_health_query(_query_parameters(request)):
            return uncached_json_response('{"status":"ok"}')
        try:
            read = self._read_recorded()
        except DataUnavailable as error:
            if error.refresh is not None:
                # Logged once per refresh that failed here, not per check inside the back-off that follows.
                log_dependency_failure("dynamodb", error)
            raise ApiError(
                DEPENDENCY_UNAVAILABLE,
                "A dependency of the service is unavailable; retry after the number of seconds in Retry-After.",
                {"Retry-After": str(error.retry_after_seconds)},
            ) from error
        if read.refresh is not None:
            # This check has just read the table, or failed to in time: probing now would ask again, and wait again.
            probe = self.dependency_probe.record(not read.refresh.table_unreadable)
        else:
            probe = self.dependency_probe.outcome()
        healthy = read.state != STALE and probe.reachable
        status = {
            "status": "ok" if healthy else "degraded",
            "checks": {"dynamodb": "ok" if probe.reachable else "failing"},
            "cache": self.cache.summary(read),
            "dynamodb_check": {"age_seconds": round(self.dependency_probe.now() - probe.checked_at, 3)},
        }
        return uncached_json_response(json_text(status))


_current: ScoresService | None = None


def current_service() -> ScoresService:
    """This container's service, built from the environment's settings on first use."""
    global _current
    if _current is None:
        _current = ScoresService.from_settings(settings)
    return _current


def replace_service(service: ScoresService | None) -> ScoresService | None:
    """Makes `service` the one the routes use (None: rebuild from settings on next use); returns the previous one."""
    global _current
    previous, _current = _current, service
    return previous
