"""The shape of one catalogue item: validation and conversion, shared by the API and seeding.

Items travel in two forms: plain JSON (the seed file, the API's responses) and
DynamoDB's typed attribute maps (the table). Both are checked by the same rules,
so the API never serves anything the seeder would have refused to write.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

Item = dict[str, Any]

FIELD_ORDER = (
    "model_name",
    "provider",
    "version",
    "release_date",
    "context_window",
    "score",
    "benchmarks",
    "updated_at",
)
REQUIRED_FIELDS = frozenset({"model_name", "provider", "context_window", "score"})
MAX_NAME_LENGTH = 128
MAX_TEXT_LENGTH = 64
MAX_BENCHMARKS = 64
# Every pattern here is applied with fullmatch: `re.match` with `^...$` lets `$` match before a
# trailing newline, so "2024-05-13\n" would pass for a date.
# A model name is a URL path segment: no slash, percent sign, control or other
# characters that clients would have to escape differently from each other.
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+@ -]*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# Unicode category Cc, refused in stored text and in queries alike, so every stored value can be asked for.
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A surrogate code point on its own is not a character: it has no UTF-8 form, so it cannot be
# stored, hashed, logged or put in a token. Python strings hold one when JSON carried a lone "\ud800".
SURROGATE = re.compile(r"[\ud800-\udfff]")
# Unicode White_Space without the control characters: what str.strip() trims from text that has none.
# Spelled out, because regex engines disagree on `\s` (openapi.yaml's Provider pattern uses this same set,
# and tests/unit/test_provider_rule.py holds the two equal). U+FEFF is not in it: ECMA's `\s` has it, Unicode not.
PROVIDER_WHITESPACE = (
    " \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_INTEGER_TEXT = re.compile(r"-?\d+", re.ASCII)
# What DynamoDB sends for a number; float() alone would also take " 5", "1_000", "nan" and "inf".
_NUMBER_TEXT = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
# Integers beyond 2**53 lose precision in JavaScript and many other JSON readers.
MAX_SAFE_INTEGER = 2**53 - 1
# DynamoDB refuses a whole write holding a number outside these (its developer guide, "Number"):
# at most 38 significant digits, and a magnitude from 1E-130 to 9.99...E+125, or zero. A float's
# shortest text has at most 17 digits, so in practice the magnitude is what binds.
DYNAMODB_MAX_DIGITS = 38
DYNAMODB_MIN_EXPONENT = -130
DYNAMODB_MAX_EXPONENT = 125


class InvalidItem(ValueError):
    """An item breaks the catalogue's rules; the message names the field."""


def _text(raw: Any, field: str, max_length: int) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidItem(f"{field} must be a non-empty string")
    if len(raw) > max_length:
        raise InvalidItem(f"{field} must be at most {max_length} characters")
    if CONTROL_CHARACTER.search(raw):
        raise InvalidItem(f"{field} must not contain control characters")
    if SURROGATE.search(raw):
        raise InvalidItem(f"{field} must be valid Unicode text (it holds a lone surrogate)")
    return raw


def number_text(value: int | float) -> str:
    """The text a number is stored as in DynamoDB: the shortest that round-trips, so 88.7 stays "88.7"."""
    return str(value) if isinstance(value, int) else repr(value)


def fits_dynamodb(value: int | float) -> bool:
    """True when DynamoDB accepts `value` as a number: zero, or within its digits and magnitude."""
    stored = Decimal(number_text(value))
    if stored.is_zero():
        return True
    # Counted by hand: Decimal.normalize() would round to the context's 28 digits first.
    significant = "".join(map(str, stored.as_tuple().digits)).strip("0")
    return (
        len(significant) <= DYNAMODB_MAX_DIGITS and DYNAMODB_MIN_EXPONENT <= stored.adjusted() <= DYNAMODB_MAX_EXPONENT
    )


def _finite_number(raw: Any, field: str) -> int | float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise InvalidItem(f"{field} must be a number")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise InvalidItem(f"{field} must be a finite number")
    if isinstance(raw, int) and abs(raw) > MAX_SAFE_INTEGER:
        raise InvalidItem(f"{field} must be within ±{MAX_SAFE_INTEGER}")
    if not fits_dynamodb(raw):
        raise InvalidItem(f"{field} must be 0 or of magnitude 1E-130 to 9.99E+125, the range DynamoDB stores")
    return raw


def _release_date(raw: Any) -> str:
    if not isinstance(raw, str) or not _DATE.fullmatch(raw):
        raise InvalidItem("release_date must be an ISO date (YYYY-MM-DD)")
    try:
        date.fromisoformat(raw)
    except ValueError:
        raise InvalidItem(f"release_date {raw!r} is not a real date") from None
    return raw


def parse_timestamp(raw: Any, field: str = "updated_at") -> datetime:
    """The instant an ISO 8601 timestamp with a timezone names, in UTC; anything else is `InvalidItem`.

    Offsets can push a representable local time out of `datetime`'s range
    (`0001-01-01T00:00:00+01:00`), which Python reports as `OverflowError`:
    that is a bad value like any other, not a crash.
    """
    if not isinstance(raw, str):
        raise InvalidItem(f"{field} must be an ISO 8601 timestamp string")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidItem(f"{field} {raw!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise InvalidItem(f"{field} must include a timezone, e.g. 2025-01-31T12:00:00Z")
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidItem(f"{field} {raw!r} is outside the years 0001 to 9999 in UTC") from None


def timestamp_second(raw: Any, field: str = "updated_at") -> datetime:
    """The whole UTC second a timestamp falls in: the precision the catalogue keeps, serves and compares.

    Truncated, never rounded: 12:00:00.999 is still 12:00:00, so no value moves into the future.
    """
    return parse_timestamp(raw, field).replace(microsecond=0)


def normalise_timestamp(raw: Any, field: str = "updated_at") -> str:
    """An ISO 8601 timestamp as UTC `YYYY-MM-DDTHH:MM:SSZ`, the contract's form, the fraction truncated.

    JavaScript's toISOString() writes milliseconds (`...00.123Z`); the contract has whole seconds.
    Compare timestamps as instants (`timestamp_second`), not as text: other writers may store
    offsets or fractions, and a fraction sorts before `Z` in text but after it in time.
    """
    # isoformat, not strftime: glibc's %Y writes year 999 as "999", which sorts after "2025".
    return timestamp_second(raw, field).replace(tzinfo=None).isoformat() + "Z"


def normalise_provider(raw: str) -> str:
    """The form providers are matched in, stored and asked for alike: whitespace trimmed, lower case."""
    return raw.strip(PROVIDER_WHITESPACE).lower()


def _benchmarks(raw: Any) -> dict[str, int | float]:
    if not isinstance(raw, Mapping):
        raise InvalidItem("benchmarks must be an object of benchmark name to number")
    if len(raw) > MAX_BENCHMARKS:
        raise InvalidItem(f"benchmarks must hold at most {MAX_BENCHMARKS} entries")
    checked: dict[str, int | float] = {}
    for name in sorted(raw):
        _text(name, "benchmark name", MAX_TEXT_LENGTH)
        checked[name] = _finite_number(raw[name], f"benchmarks.{name}")
    return checked


def _model_name(raw: Any) -> str:
    model_name = _text(raw, "model_name", MAX_NAME_LENGTH)
    if not _MODEL_NAME.fullmatch(model_name) or model_name != model_name.strip():
        raise InvalidItem(
            "model_name may hold only letters, digits, spaces and . _ : + @ -, starting with a letter or digit"
        )
    return model_name


def _context_window(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        raise InvalidItem("context_window must be a positive integer")
    if raw > MAX_SAFE_INTEGER:
        raise InvalidItem(f"context_window must be at most {MAX_SAFE_INTEGER}")
    return raw


# Each field's check, in the order items are written; optional fields are left out when absent or null.
_FIELD_CHECKS: dict[str, Callable[[Any], Any]] = {
    "model_name": _model_name,
    # Trimmed where it is read: a stray space from another writer must not hide the item from its filter.
    "provider": lambda raw: _text(raw, "provider", MAX_TEXT_LENGTH).strip(),
    "version": lambda raw: _text(raw, "version", MAX_TEXT_LENGTH),
    "release_date": _release_date,
    "context_window": _context_window,
    "score": lambda raw: _finite_number(raw, "score"),
    "benchmarks": _benchmarks,
    "updated_at": normalise_timestamp,
}


def validate_item(raw: Any) -> Item:
    """Checks one item in plain-JSON form and returns it with fields in canonical order.

    Unknown fields are refused, because in a seed file a typo would otherwise be
    silently dropped; `item_from_dynamodb` passes only the fields the API serves.
    """
    if not isinstance(raw, Mapping):
        raise InvalidItem("item must be a JSON object")
    missing = sorted(REQUIRED_FIELDS - raw.keys())
    if missing:
        raise InvalidItem(f"missing required field(s): {', '.join(missing)}")
    unknown = sorted(set(raw) - set(FIELD_ORDER))
    if unknown:
        raise InvalidItem(f"unknown field(s): {', '.join(unknown)}")
    return {
        field: _FIELD_CHECKS[field](raw[field])
        for field in FIELD_ORDER
        if field in REQUIRED_FIELDS or raw.get(field) is not None
    }


def _plain_value(attribute: Mapping[str, Any]) -> Any:
    """Turns one DynamoDB attribute value into plain JSON, keeping integers integers."""
    if len(attribute) != 1:
        raise InvalidItem("malformed DynamoDB attribute value")
    ((kind, value),) = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        if not isinstance(value, str) or not _NUMBER_TEXT.fullmatch(value):
            raise InvalidItem(f"malformed DynamoDB number {value!r}")
        return int(value) if _INTEGER_TEXT.fullmatch(value) else float(value)
    if kind == "M":
        return {key: _plain_value(inner) for key, inner in value.items()}
    if kind == "L":
        return [_plain_value(inner) for inner in value]
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    # Sets and binary values have no place in this catalogue.
    raise InvalidItem(f"unsupported DynamoDB type {kind}")


def item_from_dynamodb(attributes: Mapping[str, Mapping[str, Any]]) -> Item:
    """Parses and validates an item as returned by the low-level DynamoDB client.

    Only the attributes the API serves are read: other writers may add anything
    else, of any DynamoDB type, and that must not cost the item its answer.
    """
    plain: dict[str, Any] = {}
    for name in FIELD_ORDER:
        if name not in attributes:
            continue
        try:
            plain[name] = _plain_value(attributes[name])
        except (TypeError, ValueError, AttributeError) as error:
            raise InvalidItem(f"{name}: unreadable attribute: {error}") from None
    return validate_item(plain)


def item_to_dynamodb(item: Item) -> dict[str, dict[str, Any]]:
    """Turns a validated item into the low-level client's attribute map."""
    attributes: dict[str, dict[str, Any]] = {}
    for field, value in item.items():
        if field == "benchmarks":
            attributes[field] = {"M": {name: {"N": number_text(score)} for name, score in value.items()}}
        elif isinstance(value, (int, float)):
            attributes[field] = {"N": number_text(value)}
        else:
            attributes[field] = {"S": value}
    return attributes
