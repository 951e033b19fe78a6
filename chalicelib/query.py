"""Query-string validation and the opaque pagination token.

Every parameter is checked against its route's allow-list in `contract`; anything
unknown, repeated, out of range or malformed is an `InvalidParameter` naming the
parameter. The token is keyset-based (it carries the last item's sort key, not an
offset), so paging an unchanged table yields every item exactly once.

The token carries an integrity checksum, not a signature: its key is in this
public source, so anyone can mint a token. The checksum catches truncated,
corrupted and foreign tokens; forgery gains nothing, because a token only names a
position in public data and every field is type-checked before it is used.

Every token the API issues must come back accepted, so its payload is UTF-8 JSON: with
`\\u` escapes, 64 astral-plane characters in `provider` took 768 bytes and pushed the
token past `MAX_TOKEN_LENGTH`. tests/unit/test_next_token_length.py walks the worst
cases the contract allows through the routes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.contract import HEALTH, INVALID_PARAMETER, ITEM, LIST
from chalicelib.models import CONTROL_CHARACTER, MAX_SAFE_INTEGER, SURROGATE, normalise_provider
from chalicelib.responses import ApiError
from chalicelib.snapshot import ORDERS, SORT_FIELDS, SortKey

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_PROVIDER_LENGTH = 64
# openapi.yaml's NextToken maxLength. The longest token the contract allows is 744 characters
# (64 four-byte characters in provider, two 128-character model names); a test holds it under this.
MAX_TOKEN_LENGTH = 1024
# fullmatch, not match with `^...$`: `$` also matches before a trailing newline, so "2\n" passed.
_DIGITS = re.compile(r"[0-9]{1,7}")
# The unpadded URL-safe base64 alphabet: b64decode would otherwise skip any other character, newline included.
_TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]+")
# Public by design (see the module docstring): it versions the token format, it does not authenticate.
_CHECKSUM_KEY = b"llm-scores/next_token/v1"
_CHECKSUM_BYTES = 12

QueryParameters = Mapping[str, Sequence[str]] | None


class InvalidParameter(ApiError):
    """A parameter is unknown, repeated, malformed or out of range: a 400 naming it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(INVALID_PARAMETER, message)
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


def _printable(text: str) -> str:
    # A lone surrogate echoed into an error message would make the body JSON that strict parsers refuse.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _single_values(parameters: QueryParameters, allowed: frozenset[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, given in (parameters or {}).items():
        if SURROGATE.search(name):
            raise InvalidParameter(_printable(name), f"query parameter '{_printable(name)}' is not valid Unicode text")
        if name not in allowed:
            raise InvalidParameter(name, f"unknown query parameter '{name}'; allowed: {', '.join(sorted(allowed))}")
        if len(given) != 1:
            raise InvalidParameter(name, f"query parameter '{name}' must be given once")
        if SURROGATE.search(given[0]):
            # Every later step (trimming, hashing the ETag, the token) needs text that has a UTF-8 form.
            raise InvalidParameter(name, f"'{name}' must be valid Unicode text (it holds a lone surrogate)")
        values[name] = given[0]
    return values


def _choice(values: dict[str, str], name: str, choices: Sequence[str], default: str) -> str:
    value = values.get(name, default)
    if value not in choices:
        raise InvalidParameter(name, f"'{name}' must be one of: {', '.join(choices)}")
    return value


# What a provider may be is spelled out in explicit character sets (chalicelib/models.py), the same ones
# as the `pattern` of openapi.yaml's Provider parameter: Python's bare str.strip() also trims \x1c-\x1f
# and \x85, which ECMA-262 (the schema's regex dialect) does not call whitespace, and that gap once let
# the schema accept `provider=%1D` while the API refused it.


def parse_list_query(parameters: QueryParameters) -> ListQuery:
    """Validates the query string of `GET /llms`."""
    values = _single_values(parameters, LIST.query_parameters)
    provider = values.get("provider")
    if provider is not None:
        trimmed = normalise_provider(provider)
        # The length is the raw value's, as the schema's maxLength measures it.
        if not trimmed or len(provider) > MAX_PROVIDER_LENGTH or CONTROL_CHARACTER.search(provider):
            raise InvalidParameter(
                "provider",
                f"'provider' must be 1 to {MAX_PROVIDER_LENGTH} characters, not only whitespace, "
                "with no control characters",
            )
        provider = trimmed
    sort = _choice(values, "sort", SORT_FIELDS, "model_name")
    order = _choice(values, "order", ORDERS, "asc")
    limit_text = values.get("limit", str(DEFAULT_LIMIT))
    if not _DIGITS.fullmatch(limit_text) or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise InvalidParameter("limit", f"'limit' must be an integer from 1 to {MAX_LIMIT}")
    query = ListQuery(provider, sort, order, int(limit_text), None)
    token = values.get("next_token")
    if token is None:
        return query
    return ListQuery(provider, sort, order, query.limit, decode_token(token, query.view_key, sort))


def parse_health_query(parameters: QueryParameters) -> bool:
    """Validates the query string of `GET /health`; returns whether a deep check was asked for."""
    values = _single_values(parameters, HEALTH.query_parameters)
    return _choice(values, "deep", ("true", "false"), "false") == "true"


def parse_item_query(parameters: QueryParameters) -> None:
    """Validates the query string of `GET /llms/{model_name}`, which takes no parameters."""
    _single_values(parameters, ITEM.query_parameters)


def _checksum(payload: bytes) -> bytes:
    return hmac.new(_CHECKSUM_KEY, payload, hashlib.blake2b).digest()[:_CHECKSUM_BYTES]


def encode_token(view_key: str, last_key: SortKey) -> str:
    """An opaque token that resumes `view_key` after the item whose sort key is `last_key`.

    The payload is UTF-8 JSON, four bytes at most per character, not `\\u` escapes (twelve bytes
    for an astral-plane character). Tokens issued with escapes still decode: JSON reads both.
    """
    text = json.dumps([view_key, list(last_key)], separators=(",", ":"), ensure_ascii=False)
    # backslashreplace writes a surrogate, which has no UTF-8 form, as the JSON escape that reads back to it.
    payload = text.encode("utf-8", "backslashreplace")
    return base64.urlsafe_b64encode(_checksum(payload) + payload).decode().rstrip("=")


def decode_token(token: str, view_key: str, sort: str) -> SortKey:
    """The sort key inside a token issued for `view_key` (ordered by `sort`); anything else is `InvalidParameter`.

    The checksum key is public, so a token with a valid checksum is still checked field by field:
    its value must have the type `sort` compares, or comparing it would fail.
    """
    invalid = InvalidParameter("next_token", "'next_token' is not a token issued for this query")
    if len(token) > MAX_TOKEN_LENGTH or not _TOKEN_TEXT.fullmatch(token):
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise invalid from None
    checksum, payload = raw[:_CHECKSUM_BYTES], raw[_CHECKSUM_BYTES:]
    if len(checksum) != _CHECKSUM_BYTES or not hmac.compare_digest(checksum, _checksum(payload)):
        raise invalid
    try:
        token_view, (missing, value, model_name) = json.loads(payload, parse_constant=_refuse_constant)
    except (ValueError, TypeError):
        raise invalid from None
    if token_view != view_key:
        raise invalid
    if not _is_sort_key(missing, value, model_name, sort):
        raise invalid
    return (missing, value, model_name)


_NUMERIC_SORTS = frozenset({"score", "context_window"})


def _refuse_constant(name: str) -> Any:
    # json.loads accepts NaN and ±Infinity, which no item holds and which compare false with everything.
    raise ValueError(f"{name} is not a JSON number")


def _is_sort_key(missing: Any, value: Any, model_name: Any, sort: str) -> bool:
    if not isinstance(missing, bool) or not isinstance(model_name, str):
        return False
    if missing:
        return value == 0 and not isinstance(value, bool)  # snapshot.sort_key's placeholder
    if sort in _NUMERIC_SORTS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        # The same bounds items are held to: finite, and integers exact in every JSON reader.
        return math.isfinite(value) and (not isinstance(value, int) or abs(value) <= MAX_SAFE_INTEGER)
    return isinstance(value, str)
