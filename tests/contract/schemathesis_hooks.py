"""Schemathesis hooks for the contract run (loaded through SCHEMATHESIS_HOOKS).

Two things a schema cannot say, made explicit here rather than by switching checks off:

- A schema-valid `next_token` is one the API signed for the same provider/sort/order. Random
  strings are rightly refused with 400, so positive cases get a token signed for their own query,
  holding a generated position of the type that sort uses. The fuzzer then exercises keyset
  resumption at arbitrary positions instead of only the signature check.
- Methods outside API Gateway's set (TRACE, QUERY, ...) are answered by `chalice local`'s http.server
  itself (501, HTML) and never reach the app; API Gateway has no such methods to forward to Lambda.
  Such a case says nothing about this API. Every method API Gateway knows is still sent.
"""

from __future__ import annotations

import hashlib
from typing import Any

import schemathesis
from schemathesis.generation import GenerationMode

from chalicelib.query import InvalidParameter, encode_token, parse_list_query
from chalicelib.snapshot import SortKey


def _position_for(sort: str, seed: str) -> SortKey:
    digest = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).digest()
    model_name = seed[:128] or "m"
    missing = sort in {"release_date", "context_window", "score"} and digest[0] % 5 == 0
    if sort == "score":
        value: Any = int.from_bytes(digest[1:5]) / 2**24 - 64
    elif sort == "context_window":
        value = int.from_bytes(digest[1:5])
    elif sort == "release_date":
        value = f"{2000 + digest[1] % 40:04d}-{1 + digest[2] % 12:02d}-{1 + digest[3] % 28:02d}"
    else:
        value = model_name
    return (missing, 0 if missing else value, model_name)


# The HTTP methods an API Gateway REST API can route (besides ANY).
API_GATEWAY_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    return (case.method or "").upper() in API_GATEWAY_METHODS


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta = case.meta
    if case.path != "/llms" or case.method.upper() != "GET" or not case.query or "next_token" not in case.query:
        return case
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return case
    others = {name: [str(value)] for name, value in case.query.items() if name != "next_token"}
    try:
        query = parse_list_query(others)
    except InvalidParameter:
        return case
    case.query["next_token"] = encode_token(query.view_key, _position_for(query.sort, str(case.query["next_token"])))
    return case
