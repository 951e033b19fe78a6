"""Query-string validation and the opaque pagination token.

Every parameter is checked against an allow-list; anything unknown, repeated,
out of range or malformed is a `InvalidParameter` naming the parameter. The
token is keyset-based (it carries the last item's sort key, not an offset), so
paging an unchanged table yields every item exactly once, and it is signed, so a
tampered or foreign token is refused instead of misread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.snapshot import ORDERS, SORT_FIELDS, SortKey

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_PROVIDER_LENGTH = 64
MAX_TOKEN_LENGTH = 1024
_DIGITS = re.compile(r"^[0-9]{1,7}$")
# Integrity, not secrecy: the token only holds a position, but it must be one this API issued.
_TOKEN_KEY = b"llm-scores/next_token/v1"

QueryParameters = Mapping[str, Sequence[str]] | None


class InvalidParameter(ValueError):
    """A query parameter is unknown, repeated, malformed or out of range."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class ListQuery:
    """A validated `GET /llms` request."""

    provider: str | None
    sort: str
    order: str
    limit: int
    after: SortKey | None

    @property
    def view_key(self) -> str:
        """Identifies the ordering a token belongs to (limit may change between pages)."""
        return f"{self.provider or ''}|{self.sort}|{self.order}"


def _single_values(parameters: QueryParameters, allowed: frozenset[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, given in (parameters or {}).items():
        if name not in allowed:
            raise InvalidParameter(name, f"unknown query parameter '{name}'; allowed: {', '.join(sorted(allowed))}")
        if len(given) != 1:
            raise InvalidParameter(name, f"query parameter '{name}' must be given once")
        values[name] = given[0]
    return values


def _choice(values: dict[str, str], name: str, choices: Sequence[str], default: str) -> str:
    value = values.get(name, default)
    if value not in choices:
        raise InvalidParameter(name, f"'{name}' must be one of: {', '.join(choices)}")
    return value


_LIST_PARAMETERS = frozenset({"provider", "sort", "order", "limit", "next_token"})
_HEALTH_PARAMETERS = frozenset({"deep"})
_NO_PARAMETERS: frozenset[str] = frozenset()


def parse_list_query(parameters: QueryParameters) -> ListQuery:
    """Validates the query string of `GET /llms`."""
    values = _single_values(parameters, _LIST_PARAMETERS)
    provider = values.get("provider")
    if provider is not None:
        provider = provider.strip().lower()
        if not provider or len(provider) > MAX_PROVIDER_LENGTH:
            raise InvalidParameter("provider", f"'provider' must be 1 to {MAX_PROVIDER_LENGTH} characters")
    sort = _choice(values, "sort", SORT_FIELDS, "model_name")
    order = _choice(values, "order", ORDERS, "asc")
    limit_text = values.get("limit", str(DEFAULT_LIMIT))
    if not _DIGITS.match(limit_text) or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise InvalidParameter("limit", f"'limit' must be an integer from 1 to {MAX_LIMIT}")
    query = ListQuery(provider, sort, order, int(limit_text), None)
    token = values.get("next_token")
    if token is None:
        return query
    return ListQuery(provider, sort, order, query.limit, decode_token(token, query.view_key, sort))


def parse_health_query(parameters: QueryParameters) -> bool:
    """Validates the query string of `GET /health`; returns whether a deep check was asked for."""
    values = _single_values(parameters, _HEALTH_PARAMETERS)
    return _choice(values, "deep", ("true", "false"), "false") == "true"


def reject_any_query(parameters: QueryParameters) -> None:
    """For routes that take no query parameters at all."""
    _single_values(parameters, _NO_PARAMETERS)


def _signature(payload: bytes) -> bytes:
    return hmac.new(_TOKEN_KEY, payload, hashlib.blake2b).digest()[:12]


def encode_token(view_key: str, last_key: SortKey) -> str:
    """An opaque token that resumes `view_key` after the item whose sort key is `last_key`."""
    payload = json.dumps([view_key, list(last_key)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_signature(payload) + payload).decode().rstrip("=")


def decode_token(token: str, view_key: str, sort: str) -> SortKey:
    """The sort key inside a token issued for `view_key` (ordered by `sort`); anything else is `InvalidParameter`.

    The signing key is public, so a well-signed token is still checked field by field:
    its value must have the type `sort` compares, or comparing it would fail.
    """
    invalid = InvalidParameter("next_token", "'next_token' is not a token issued for this query")
    if len(token) > MAX_TOKEN_LENGTH:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise invalid from None
    signature, payload = raw[:12], raw[12:]
    if len(signature) != 12 or not hmac.compare_digest(signature, _signature(payload)):
        raise invalid
    try:
        token_view, (missing, value, model_name) = json.loads(payload)
    except (ValueError, TypeError):
        raise invalid from None
    if token_view != view_key:
        raise invalid
    if not _is_sort_key(missing, value, model_name, sort):
        raise invalid
    return (missing, value, model_name)


_NUMERIC_SORTS = frozenset({"score", "context_window"})


def _is_sort_key(missing: Any, value: Any, model_name: Any, sort: str) -> bool:
    if not isinstance(missing, bool) or not isinstance(model_name, str):
        return False
    if missing:
        return value == 0 and not isinstance(value, bool)  # snapshot.sort_key's placeholder
    if sort in _NUMERIC_SORTS:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)
