"""Schemathesis hooks for the contract run (loaded through SCHEMATHESIS_HOOKS).

Two things a schema cannot say, made explicit here rather than by switching checks off:

- A schema-valid `next_token` is one the API issued for the same provider/sort/order. Random
  strings are rightly refused with 400, so positive cases get a token issued for their own query,
  holding a generated position of the type that sort uses. The fuzzer then exercises keyset
  resumption at arbitrary positions instead of only the signature check.
- Methods outside API Gateway's set (TRACE, QUERY, ...) are answered by `chalice local`'s http.server
  itself (501, HTML) and never reach the app; API Gateway has no such methods to forward to Lambda.
  Such a case says nothing about this API. Every method API Gateway knows is still sent.

When FUZZ_REQUEST_LOG names a file, every request sent is also appended to it, one JSON line each,
so that the test can fingerprint a run: two runs with one seed must send the same requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
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
    # HEAD takes GET's query and checks the token the same way.
    if case.path != "/llms" or case.method.upper() not in {"GET", "HEAD"} or "next_token" not in (case.query or {}):
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


# Random per run, so it would make two identical runs look different.
_VOLATILE_HEADERS = frozenset({"x-schemathesis-testcaseid"})
_REQUEST_LOG = os.environ.get("FUZZ_REQUEST_LOG")
_REQUEST_LOG_LOCK = threading.Lock()


def request_record(method: str, path_and_query: str, headers: Any, body: Any, status: int) -> dict[str, Any]:
    """One sent request as the fingerprint sees it: everything on the wire except the host and volatile headers."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "backslashreplace")
    kept = sorted([name.lower(), str(value)] for name, value in headers.items())
    kept = [header for header in kept if header[0] not in _VOLATILE_HEADERS]
    return {"method": method, "url": path_and_query, "headers": kept, "body": body, "status": status}


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    if _REQUEST_LOG is None:
        return
    request = response.request
    record = request_record(request.method, request.path_url, request.headers, request.body, response.status_code)
    with _REQUEST_LOG_LOCK, open(_REQUEST_LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps(record, ensure_ascii=True) + "\n")
