"""Cross-origin resource sharing for browsers: off unless CORS_ALLOWED_ORIGINS lists origins.

Every route declares OPTIONS (`contract.ROUTE_METHODS`), so API Gateway hands a preflight to the
function instead of answering it itself, and two middlewares decide what it gets:

- Off (no origins, the default): no answer carries a CORS header, and OPTIONS is refused like any
  method the API does not serve: 405 with `Allow: GET, HEAD` and the API's error shape.
- On: OPTIONS is answered 204 with `Allow: GET, HEAD`. When the request's `Origin` is allowed,
  every answer (errors and 304s included) carries `Access-Control-Allow-Origin: <that origin>` and
  `Access-Control-Expose-Headers`, and a preflight also gets the allowed methods, request headers
  and `Access-Control-Max-Age`. An origin that is not allowed gets the same answers without any
  `Access-Control-*` header, so the browser refuses to hand them to the page; the request line logs
  `cors: "refused"` with the origin. Every answer then says `Vary: Origin`, so no cache hands
  one origin's answer to another (`*` allows every origin and varies on nothing).

`Allow` always names GET and HEAD, the methods that read a resource: Chalice would list OPTIONS
too, because every route declares it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalice.app import Request, Response

from chalicelib.config import ANY_ORIGIN, settings
from chalicelib.contract import METHOD_NOT_ALLOWED, METHODS
from chalicelib.observability import current_record
from chalicelib.responses import SECURITY_HEADERS

ALLOW = ", ".join(METHODS)
# Request headers a page may send: conditional requests, an API key when the stage requires one, and a
# Content-Type, which the API ignores on a GET but which fetch() code often sets anyway.
ALLOWED_REQUEST_HEADERS = "Content-Type, If-None-Match, X-Api-Key"
# Response headers a page may read beyond the CORS-safelisted ones.
EXPOSED_HEADERS = "ETag, Retry-After, X-Cache, X-Request-Id"
# How long a browser may reuse a preflight: Chromium caps it at two hours, Firefox at a day.
PREFLIGHT_MAX_AGE_SECONDS = 7200
# Enough of a refused origin to recognise it in the log, and no more of a value the client controls.
LOGGED_ORIGIN_CHARACTERS = 100


@dataclass(frozen=True)
class CorsPolicy:
    """The origins whose pages may read the API's answers; none turns CORS off."""

    allowed_origins: frozenset[str] = frozenset()

    @property
    def enabled(self) -> bool:
        return bool(self.allowed_origins)

    def allow_origin_header(self, origin: str | None) -> str | None:
        """The `Access-Control-Allow-Origin` value for a request from `origin`, or None for no CORS headers."""
        if ANY_ORIGIN in self.allowed_origins:
            return ANY_ORIGIN
        if origin and origin.strip().lower() in self.allowed_origins:
            return origin.strip()
        return None


_policy = CorsPolicy(frozenset(settings.cors_allowed_origins))


def replace_cors_policy(policy: CorsPolicy) -> CorsPolicy:
    """Makes `policy` the one requests are answered with and returns the previous one (for tests)."""
    global _policy
    previous, _policy = _policy, policy
    return previous


def _method_not_allowed() -> Response:
    # Exactly what Chalice answers for a method a route does not declare; log_request gives both the API's error shape.
    return Response(
        body={"Code": METHOD_NOT_ALLOWED.code, "Message": "Unsupported method: OPTIONS"},
        status_code=METHOD_NOT_ALLOWED.status,
        headers={"Allow": ALLOW},
    )


def _options(policy: CorsPolicy, origin: str | None) -> Response:
    headers: dict[str, str | list[str]] = {**SECURITY_HEADERS, "Cache-Control": "no-store", "Allow": ALLOW}
    if policy.allow_origin_header(origin) is not None:
        headers["Access-Control-Allow-Methods"] = ALLOW
        headers["Access-Control-Allow-Headers"] = ALLOWED_REQUEST_HEADERS
        headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
    return Response(body="", status_code=204, headers=headers)


def _add_vary_origin(response: Response) -> None:
    for name in [name for name in response.headers if name.lower() == "vary"]:
        existing = response.headers.pop(name)
        values = [value.strip() for value in (existing if isinstance(existing, list) else [existing])]
        if "origin" not in {value.lower() for value in values}:
            values.append("Origin")
        response.headers["Vary"] = ", ".join(values)
        return
    response.headers["Vary"] = "Origin"


def _keep_allow_truthful(response: Response) -> None:
    if response.status_code == METHOD_NOT_ALLOWED.status:
        for name in [name for name in response.headers if name.lower() == "allow"]:
            del response.headers[name]
        response.headers["Allow"] = ALLOW


def answer_options(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice HTTP middleware, inside log_request: answers OPTIONS, keeps `Allow` to GET and HEAD, logs the origin.

    Inside log_request so a preflight gets its log line and X-Request-Id, and a refused OPTIONS
    the API's error shape, like any other 405.
    """
    if request is None:
        return get_response(request)
    policy = _policy
    origin = request.headers.get("origin")
    if request.method == "OPTIONS":
        response = _options(policy, origin) if policy.enabled else _method_not_allowed()
    else:
        response = get_response(request)
    _keep_allow_truthful(response)
    if policy.enabled and origin:
        allowed = policy.allow_origin_header(origin) is not None
        record = current_record()
        record.extra["cors"] = "allowed" if allowed else "refused"
        if not allowed:
            record.extra["origin"] = origin[:LOGGED_ORIGIN_CHARACTERS]
    return response


def add_cors_headers(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice HTTP middleware, outermost: the CORS headers on every answer, including the framework's own errors.

    Outside log_request, because log_request rebuilds Chalice's errors (a 405) in the API's shape
    and keeps only their `Allow`.
    """
    response = get_response(request)
    policy = _policy
    if request is None or not policy.enabled:
        return response
    allowed = policy.allow_origin_header(request.headers.get("origin"))
    if allowed != ANY_ORIGIN:
        _add_vary_origin(response)
    if allowed is not None:
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return response
