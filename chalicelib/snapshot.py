"""An immutable, pre-encoded copy of the catalogue with its sorted views.

Everything a request needs is computed once per refresh (each item's JSON text,
the content digest) or once per view (the sort), so a cache hit only slices a
list and joins strings: it costs the same for 50 items as for 5,000.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from chalicelib.encoding import json_text
from chalicelib.models import Item, normalise_provider

SORT_FIELDS = ("model_name", "score", "context_window", "release_date")
ORDERS = ("asc", "desc")

# json_text's encoder, made once: json.dumps builds a new encoder for every call with options.
_ITEM_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def item_text(item: Item) -> str:
    """`json_text(item)`, the text an item is served as, at less cost: catalogue text rarely holds `<`, `>` or
    `&`, so the HTML escaping pass (a character-by-character translate) runs only on the items that do."""
    text = _ITEM_ENCODER.encode(item)
    return json_text(item) if "<" in text or ">" in text or "&" in text else text


# (value missing, value, model_name): items without the value sort last in both orders,
# and model_name breaks ties, so every item has one stable position.
SortKey = tuple[bool, Any, str]


def sort_key(item: Item, sort: str) -> SortKey:
    value = item.get(sort)
    return (value is None, value if value is not None else 0, item["model_name"])


def comes_after(candidate: SortKey, reference: SortKey, descending: bool) -> bool:
    """True when `candidate` sorts strictly after `reference` in the given order."""
    if candidate[0] != reference[0]:
        return candidate[0] > reference[0]
    if candidate[1] != reference[1]:
        # Values of one sort field share a type (checked on items and on tokens), so they compare.
        return bool(candidate[1] < reference[1] if descending else candidate[1] > reference[1])
    return candidate[2] > reference[2]


@dataclass
class View:
    """The catalogue filtered by provider and ordered one way: model names in order, with their keys."""

    names: list[str]
    keys: list[SortKey]
    descending: bool
    # payload_offsets[i] is the Lambda payload size of names[:i], so a page's size is one subtraction.
    payload_offsets: list[int]
    # Each item's pre-encoded JSON, in view order, so a page is one slice and one join.
    texts: list[str] = field(default_factory=list, repr=False)
    _positions: dict[str, int] | None = field(default=None, repr=False)
    # The pagination token that resumes after each position, made once: pages are asked for again and again.
    _tokens: dict[int, str] = field(default_factory=dict, repr=False)

    def json_array(self, start: int, end: int) -> str:
        """The JSON array text of items `start` to `end` (exclusive), from their pre-encoded text."""
        return "[" + ",".join(self.texts[start:end]) + "]"

    def token_after(self, index: int, encode: Callable[[SortKey], str]) -> str:
        """The token that resumes after item `index`, built by `encode` from its sort key the first time only."""
        token = self._tokens.get(index)
        if token is None:
            token = self._tokens[index] = encode(self.keys[index])
        return token

    def page_end(self, start: int, limit: int, payload_budget: int) -> int:
        """End index of the page starting at `start`: at most `limit` items, and at most `payload_budget` bytes.

        At least one item is always included, so paging always makes progress.
        """
        end = min(start + limit, len(self.names))
        fitting = bisect_right(self.payload_offsets, self.payload_offsets[start] + payload_budget) - 1
        return max(min(end, fitting), min(start + 1, end))

    def start_after(self, key: SortKey) -> int:
        """Index of the first item after `key`, even if that item has since changed or vanished."""
        if self._positions is None:
            self._positions = {name: index for index, name in enumerate(self.names)}
        index = self._positions.get(key[2])
        if index is not None and self.keys[index] == key:
            return index + 1
        for index, candidate in enumerate(self.keys):
            if comes_after(candidate, key, self.descending):
                return index
        return len(self.keys)


class Snapshot:
    """One consistent read of the table, ready to serve."""

    def __init__(self, items: Iterable[Item], skipped_items: int, loaded_at: float) -> None:
        ordered = sorted(items, key=lambda item: item["model_name"])
        self.items: dict[str, Item] = {item["model_name"]: item for item in ordered}
        self.encoded: dict[str, str] = {name: item_text(item) for name, item in self.items.items()}
        # What each item adds to Lambda's response payload, where the body travels as an escaped JSON string:
        # the text is ASCII, so only quotes and backslashes grow (one byte each), plus one for the comma.
        self.payload_sizes: dict[str, int] = {
            name: len(text) + text.count('"') + text.count("\\") + 1 for name, text in self.encoded.items()
        }
        self.providers: frozenset[str] = frozenset(normalise_provider(item["provider"]) for item in ordered)
        self.skipped_items = skipped_items
        self.loaded_at = loaded_at
        # Each text followed by a newline, hashed in one call rather than two per item: the same digest.
        digest = hashlib.blake2b(digest_size=16)
        digest.update("".join(text + "\n" for text in self.encoded.values()).encode())
        self.digest: str = digest.hexdigest()
        self._views: dict[tuple[str | None, str, str], View] = {}

    def __len__(self) -> int:
        return len(self.items)

    def view(self, provider: str | None, sort: str, order: str) -> View:
        """The items of `provider` (`normalise_provider`'s form, or None for all) in one order, built once."""
        if provider is not None and provider not in self.providers:
            # Not memoised: arbitrary input must not grow the view dictionary.
            return View([], [], order == "desc", [0], [])
        cache_key = (provider, sort, order)
        view = self._views.get(cache_key)
        if view is None:
            view = self._build_view(provider, sort, order)
            self._views[cache_key] = view
        return view

    def _build_view(self, provider: str | None, sort: str, order: str) -> View:
        descending = order == "desc"
        selected = [
            item for item in self.items.values() if provider is None or normalise_provider(item["provider"]) == provider
        ]
        # self.items is already in model_name order, and sorts are stable, so ties stay name-ascending.
        keys = [sort_key(item, sort) for item in selected]
        present = sorted((key for key in keys if not key[0]), key=lambda key: key[1], reverse=descending)
        missing = [key for key in keys if key[0]]
        ordered = present + missing
        names = [key[2] for key in ordered]
        offsets = list(accumulate((self.payload_sizes[name] for name in names), initial=0))
        return View(names, ordered, descending, offsets, [self.encoded[name] for name in names])
