"""The public contract in one place: each route's query parameters and the error codes it can answer with.

The query validation, the Terraform export's cache-key parameters, the OpenAPI
parity test and the security tests all read these tables, so a parameter or an
error code added here reaches every one of them, and one missing elsewhere fails a test.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    """A stable, documented error: the HTTP status and the `error.code` a client can branch on."""

    status: int
    code: str


INVALID_PARAMETER = ErrorCode(400, "invalid_parameter")
NOT_FOUND = ErrorCode(404, "not_found")
# Chalice answers a wrong method itself; the middleware reshapes its body but keeps the framework's code.
METHOD_NOT_ALLOWED = ErrorCode(405, "MethodNotAllowedError")
INTERNAL_ERROR = ErrorCode(500, "internal_error")
SERVICE_UNAVAILABLE = ErrorCode(503, "service_unavailable")
DEPENDENCY_UNAVAILABLE = ErrorCode(503, "dependency_unavailable")

ERROR_CODES = (
    INVALID_PARAMETER,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    INTERNAL_ERROR,
    SERVICE_UNAVAILABLE,
    DEPENDENCY_UNAVAILABLE,
)


@dataclass(frozen=True)
class Route:
    """One route of the API: its path template, the query parameters it accepts and the errors it can answer."""

    path: str
    query_parameters: frozenset[str]
    errors: frozenset[ErrorCode]


_EVERY_ROUTE_ERRORS = frozenset({INVALID_PARAMETER, METHOD_NOT_ALLOWED, INTERNAL_ERROR})

LIST = Route(
    "/llms",
    frozenset({"provider", "sort", "order", "limit", "next_token"}),
    _EVERY_ROUTE_ERRORS | {SERVICE_UNAVAILABLE},
)
ITEM = Route("/llms/{model_name}", frozenset(), _EVERY_ROUTE_ERRORS | {NOT_FOUND, SERVICE_UNAVAILABLE})
HEALTH = Route("/health", frozenset({"deep"}), _EVERY_ROUTE_ERRORS | {DEPENDENCY_UNAVAILABLE})

ROUTES = {route.path: route for route in (LIST, ITEM, HEALTH)}
# Every route is a read: HEAD answers like GET without the body (RFC 9110 §9.3.2).
METHODS = ("GET", "HEAD")
# What every route declares: OPTIONS too, so API Gateway hands CORS preflights to the function. It is
# answered only when CORS is on and refused with 405 like any other method otherwise (chalicelib/cors.py).
ROUTE_METHODS = (*METHODS, "OPTIONS")
