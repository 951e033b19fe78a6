"""Scan pages read from DynamoDB's wire format straight into served items, in one pass.

botocore's response parser walks the service model for every attribute of every item: at
10,000 items that is most of a refresh (about 0.6 s of CPU). The walk buys nothing here: for
the attribute types a catalogue row holds (S, N, M, L, BOOL, NULL), DynamoDB's JSON and the
parsed form are the same dictionaries. So a `before-parse.dynamodb.Scan` handler (botocore's
hook for this, emitted with the raw response before the parser runs) decodes the body once,
hands the rows over untouched through `customized_response_dict` (merged into the parsed
response), and leaves botocore only the small remainder to parse: the counts and
`LastEvaluatedKey`. Errors are left to botocore entirely, and the crc32 check runs on the raw
HTTP content, which this never touches.

`item_from_wire` then checks a row the way `chalicelib.models.item_from_dynamodb` does, with
the same rules, but with no exceptions, Decimals or per-field function calls on the good path.
Whatever it cannot prove good, it hands to `item_from_dynamodb`, which accepts or refuses it
with the same reason as ever: the rules live in one place, and this is only a shortcut to
their answer for well-formed rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from chalicelib.models import (
    _DATE,
    _INTEGER_TEXT,
    _MODEL_NAME,
    _NUMBER_TEXT,
    CONTROL_CHARACTER,
    MAX_BENCHMARKS,
    MAX_NAME_LENGTH,
    MAX_SAFE_INTEGER,
    MAX_TEXT_LENGTH,
    SURROGATE,
    InvalidItem,
    Item,
    item_from_dynamodb,
    normalise_timestamp,
)

SCAN_EVENT = "before-parse.dynamodb.Scan"
# A field left out of the item: absent from the row, or NULL.
_ABSENT = object()
# Floats strictly inside these bounds have a shortest text whose exponent DynamoDB accepts
# (1E-130 to 9.99E+125): the exact test (`fits_dynamodb`, through Decimal) runs only outside them.
_SAFE_FLOAT_LOW = 1e-129
_SAFE_FLOAT_HIGH = 1e125


def take_rows_before_parse(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """botocore `before-parse` handler: moves a Scan's `Items` past the parser, decoded once."""
    if response_dict.get("status_code") != 200:
        return
    body = response_dict.get("body")
    if not body:
        return
    document = json.loads(body)
    if not isinstance(document, dict) or not isinstance(document.get("Items"), list):
        return  # not a page this understands: botocore parses (or refuses) it as ever
    customized_response_dict["Items"] = document.pop("Items")
    response_dict["body"] = json.dumps(document).encode()


def install(client: Any) -> Any:
    """Registers the handler on `client` (one client's events only); returns the client."""
    client.meta.events.register(SCAN_EVENT, take_rows_before_parse)
    return client


def _good_text(raw: Any, max_length: int) -> bool:
    """`models._text`'s rules, answered without raising."""
    if type(raw) is not str or len(raw) > max_length or not raw.strip():
        return False
    # ASCII printable text holds neither control characters nor surrogates: the regexes only for the rest.
    return (raw.isascii() and raw.isprintable()) or not (CONTROL_CHARACTER.search(raw) or SURROGATE.search(raw))


def _number(attribute: Any) -> int | float | None:
    """A finite number DynamoDB could store, from `{"N": text}`; None for anything else (the slow path decides)."""
    if type(attribute) is not dict or len(attribute) != 1:
        return None
    text = attribute.get("N")
    if type(text) is not str or not _NUMBER_TEXT.fullmatch(text):
        return None
    if _INTEGER_TEXT.fullmatch(text):
        integer = int(text)
        return integer if -MAX_SAFE_INTEGER <= integer <= MAX_SAFE_INTEGER else None
    value = float(text)
    magnitude = abs(value)
    if not math.isfinite(value) or not (magnitude == 0 or _SAFE_FLOAT_LOW < magnitude < _SAFE_FLOAT_HIGH):
        return None
    return value


def _string(attribute: Any) -> str | None:
    if type(attribute) is not dict or len(attribute) != 1:
        return None
    text = attribute.get("S")
    return text if type(text) is str else None


def _is_null(attribute: Any) -> bool:
    return type(attribute) is dict and len(attribute) == 1 and "NULL" in attribute


# Distinct texts remembered before the memory starts over: far more than a catalogue repeats.
MAX_REMEMBERED = 65_536


class WireParser:
    """Parses rows; remembers the texts it has already checked.

    A catalogue repeats itself: a dozen benchmark names, scores with one decimal, a few dates.
    Each distinct text is checked once, by the full rules, and only good ones are kept, so what
    is remembered is a pure function of the text and never goes stale.
    """

    def __init__(self) -> None:
        self._dates: set[str] = set()
        self._timestamps: dict[str, str] = {}
        self._numbers: dict[str, int | float] = {}
        self._benchmark_names: set[str] = set()

    def _forget_if_full(self) -> None:
        for remembered in (self._dates, self._timestamps, self._numbers, self._benchmark_names):
            if len(remembered) > MAX_REMEMBERED:
                remembered.clear()

    def item(self, attributes: Mapping[str, Any]) -> Item:
        """The served item for one row, exactly as `item_from_dynamodb` would return it, or its `InvalidItem`."""
        item = self._fast(attributes) if type(attributes) is dict else None
        if item is None:
            self._forget_if_full()
            return item_from_dynamodb(attributes)
        return item

    def _fast(self, attributes: dict[str, Any]) -> Item | None:
        name = _string(attributes.get("model_name"))
        provider = _string(attributes.get("provider"))
        window = self._number(attributes.get("context_window"))
        score = self._number(attributes.get("score"))
        if (
            name is None
            or not _MODEL_NAME.fullmatch(name)
            or name != name.strip()
            or not _good_text(name, MAX_NAME_LENGTH)
            or provider is None
            or not _good_text(provider, MAX_TEXT_LENGTH)
            or type(window) is not int
            or window <= 0
            or score is None
        ):
            return None
        version = self._optional(attributes, "version", self._version)
        released = self._optional(attributes, "release_date", self._release_date)
        benchmarks = self._optional(attributes, "benchmarks", self._benchmarks)
        updated = self._optional(attributes, "updated_at", self._timestamp)
        if version is None or released is None or benchmarks is None or updated is None:
            return None
        # In FIELD_ORDER, as validate_item writes it; optional fields absent or NULL are left out.
        item: Item = {"model_name": name, "provider": provider.strip()}
        if version is not _ABSENT:
            item["version"] = version
        if released is not _ABSENT:
            item["release_date"] = released
        item["context_window"] = window
        item["score"] = score
        if benchmarks is not _ABSENT:
            item["benchmarks"] = benchmarks
        if updated is not _ABSENT:
            item["updated_at"] = updated
        return item

    @staticmethod
    def _optional(attributes: dict[str, Any], field: str, check: Callable[[Any], Any]) -> Any:
        """`_ABSENT` for a field left out (missing, or NULL), else `check`'s value, or None when it fails."""
        if field not in attributes or _is_null(attributes[field]):
            return _ABSENT
        return check(attributes[field])

    @staticmethod
    def _version(attribute: Any) -> str | None:
        version = _string(attribute)
        return version if version is not None and _good_text(version, MAX_TEXT_LENGTH) else None

    def _release_date(self, attribute: Any) -> str | None:
        released = _string(attribute)
        return released if released is not None and self._good_date(released) else None

    def _good_date(self, text: str) -> bool:
        if text in self._dates:
            return True
        if not _DATE.fullmatch(text):
            return False
        try:
            date.fromisoformat(text)
        except ValueError:
            return False
        self._dates.add(text)
        return True

    def _timestamp(self, attribute: Any) -> str | None:
        text = _string(attribute)
        if text is None:
            return None
        known = self._timestamps.get(text)
        if known is None:
            try:
                known = self._timestamps[text] = normalise_timestamp(text)
            except InvalidItem:
                return None
        return known

    def _number(self, attribute: Any) -> int | float | None:
        if type(attribute) is dict and len(attribute) == 1:
            known = self._numbers.get(attribute.get("N"))  # type: ignore[arg-type]
            if known is not None:
                return known
        value = _number(attribute)
        if value is not None:
            if len(self._numbers) >= MAX_REMEMBERED:
                self._numbers.clear()
            self._numbers[attribute["N"]] = value
        return value

    def _benchmarks(self, attribute: Any) -> dict[str, int | float] | None:
        if type(attribute) is not dict or len(attribute) != 1:
            return None
        entries = attribute.get("M")
        if type(entries) is not dict or len(entries) > MAX_BENCHMARKS:
            return None
        checked: dict[str, int | float] = {}
        names = self._benchmark_names
        for name in sorted(entries):
            value = self._number(entries[name])
            if value is None:
                return None
            if name not in names:
                if not _good_text(name, MAX_TEXT_LENGTH):
                    return None
                names.add(name)
            checked[name] = value
        return checked


# One per process: the refresh runs one at a time (the cache's lock), and what it remembers stays true.
_PARSER = WireParser()


def item_from_wire(attributes: Mapping[str, Any]) -> Item:
    """`models.item_from_dynamodb(attributes)`'s answer (the item, or the same `InvalidItem`), faster for good rows."""
    return _PARSER.item(attributes)
