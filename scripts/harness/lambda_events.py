"""Events and contexts shaped exactly as Lambda hands them to the API function.

Used by tests and benchmarks that drive `app.app(event, context)` in-process,
the way API Gateway's REST proxy integration, an HTTP API's payload format 1.0
integration (`api_type = "HTTP"`) and the warm-up function call it.
It lives in `scripts/harness/`, not `tests/`, because the benchmark needs it too and
nothing outside `tests/` may import from there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

ROUTES = ("/llms/{model_name}", "/llms", "/health")
# The key the warmer's pings carry (chalicelib.warmup.WARMUP_EVENT_KEY). Spelled out here because it is
# the wire format between two deployed functions, and the benchmark sends it to older trees too.
WARMUP_EVENT_KEY = "llm_scores_warmup"


def _resource_for(path: str) -> tuple[str, dict[str, str] | None]:
    if path.startswith("/llms/"):
        return "/llms/{model_name}", {"model_name": path[len("/llms/") :]}
    return path, None


def _proxy_event(
    path: str, query: dict[str, str | list[str]] | None, headers: dict[str, str], method: str
) -> dict[str, Any]:
    """The members REST and HTTP API (format 1.0) proxy events share; each adds its own `requestContext`."""
    resource, path_parameters = _resource_for(path)
    multi = {name: value if isinstance(value, list) else [value] for name, value in (query or {}).items()} or None
    return {
        "resource": resource,
        "path": quote(path),
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {name: values[-1] for name, values in multi.items()} if multi else None,
        "multiValueQueryStringParameters": multi,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
    }


def _sent_headers(headers: dict[str, str] | None) -> dict[str, str]:
    return {"Host": "api.example.test", "User-Agent": "bench", **(headers or {})}


def api_gateway_event(
    path: str,
    query: dict[str, str | list[str]] | None = None,
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> dict[str, Any]:
    """An API Gateway REST proxy event for `path`, with a fresh request id."""
    event = _proxy_event(path, query, _sent_headers(headers), method)
    event["requestContext"] = {
        "resourcePath": event["resource"],
        "httpMethod": method,
        "path": f"/api{path}",
        "requestId": str(uuid.uuid4()),
        "stage": "api",
        "identity": {"sourceIp": "198.51.100.7"},
    }
    return event


def http_api_event(
    path: str,
    query: dict[str, str | list[str]] | None = None,
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> dict[str, Any]:
    """An HTTP API payload format 1.0 event for `path` on the `$default` stage, with a fresh request id.

    Format 1.0 keeps the REST proxy event's shape, which is what Chalice routes on
    (`requestContext.resourcePath`, the matched route's path), and adds `version`. Unlike REST, an
    HTTP API sends header names in lower case, has no stage prefix in the path on `$default`, and
    names the matched route in `routeKey`/`resourceId`.
    """
    lowered = {name.lower(): value for name, value in _sent_headers(headers).items()}
    event = {"version": "1.0", **_proxy_event(path, query, lowered, method)}
    resource, request_id = event["resource"], str(uuid.uuid4())
    event["requestContext"] = {
        "accountId": "123456789012",
        "apiId": "abc123defg",
        "domainName": lowered["host"],
        "domainPrefix": lowered["host"].split(".")[0],
        "extendedRequestId": request_id[:16],
        "httpMethod": method,
        "identity": {"sourceIp": "198.51.100.7", "userAgent": lowered.get("user-agent")},
        "path": quote(path),
        "protocol": "HTTP/1.1",
        "requestId": request_id,
        "resourceId": f"{method} {resource}",
        "resourcePath": resource,
        "routeKey": f"{method} {resource}",
        "stage": "$default",
    }
    return event


def warmup_event(hold_milliseconds: int = 0) -> dict[str, Any]:
    """The payload the warm-up function invokes the API function with."""
    return {WARMUP_EVENT_KEY: {"hold_milliseconds": hold_milliseconds}}


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that the app reads."""

    function_name: str = "llm-scores-dev"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:llm-scores-dev"
    log_group_name: str = "/aws/lambda/llm-scores-dev"
    log_stream_name: str = "2026/11/25/[$LATEST]0123456789abcdef"
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000
