"""A DynamoDB stand-in on loopback that serves whole-table Scans from pages encoded once.

moto answers a 1 MB Scan page in about 2.5 s on this machine, so a 10,000-item read takes
longer than everything the client does with it: too slow to measure a refresh with. This
stand-in pages a table exactly as moto does (items in key order, a page ends before the item
that would take it past 1,000,000 bytes by DynamoDB's item-size rules, `LastEvaluatedKey` is the
last item's key; `tests/unit/test_dynamodb_stand_in.py` holds it equal to moto page for page),
encodes every page when the table is set, and answers each Scan with those bytes. What the
client then spends is the client's own time.

It speaks DynamoDB's JSON protocol over real HTTP/1.1 with keep-alive: `x-amz-json-1.0`,
`x-amzn-RequestId`, and the `x-amz-crc32` botocore verifies on every DynamoDB answer. It knows
Scan (with `ExclusiveStartKey`, `Limit` and a `ProjectionExpression` of the key, as the API's probe
sends; a `FilterExpression` is not applied: the bench's tables hold catalogue items only), GetItem
by key (whole items) and DescribeTable; anything else is refused with DynamoDB's error shape.

Used by `make bench` and by tests; it lives here because bench may not import tests/. The fault
tests keep their own `tests/faults/scan_stand_in.py`, which pages by item count and can delay or
stall any page: it serves a different purpose.
"""

from __future__ import annotations

import json
import threading
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chalicelib.models import Item, item_to_dynamodb

KEY = "model_name"
# moto's RESULT_SIZE_LIMIT; DynamoDB documents "1 MB". Matching moto is what makes the pages comparable.
PAGE_SIZE_LIMIT = 1_000_000
TARGET_PREFIX = "DynamoDB_20120810."


def attribute_size(value: Mapping[str, Any]) -> int:
    """An attribute value's size as DynamoDB (and moto) count it: UTF-8 bytes of text, a number's text length."""
    ((kind, inner),) = value.items()
    if kind == "N":
        return len(str(inner))
    if kind == "M":
        return sum(len(name.encode()) + attribute_size(entry) for name, entry in inner.items())
    if kind == "L":
        return sum(attribute_size(entry) for entry in inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: entry}) for entry in inner)
    return len(inner.encode() if isinstance(inner, str) else inner)


def item_size(row: Mapping[str, Mapping[str, Any]]) -> int:
    """What one row counts against a page's 1 MB: each attribute's name plus its value."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in row.items())


def split_pages(rows: list[dict[str, Any]], limit: int | None = None) -> list[list[dict[str, Any]]]:
    """Rows (already in key order) cut into pages as moto cuts them: by size, and by `limit` items if given."""
    pages: list[list[dict[str, Any]]] = []
    page: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        row_size = item_size(row)
        if page and (size + row_size > PAGE_SIZE_LIMIT or len(page) == limit):
            pages.append(page)
            page, size = [], 0
        page.append(row)
        size += row_size
    if page or not pages:
        pages.append(page)
    return pages


def _scan_document(page: list[dict[str, Any]], more: bool) -> dict[str, Any]:
    document: dict[str, Any] = {"Items": page, "Count": len(page), "ScannedCount": len(page)}
    if more:
        document["LastEvaluatedKey"] = {KEY: page[-1][KEY]}
    return document


@dataclass(frozen=True)
class Table:
    """One table's rows in key order, and every whole-table Scan page already encoded."""

    name: str
    rows: list[dict[str, Any]]
    # The encoded page that follows each ExclusiveStartKey (None: the first page).
    pages: dict[str | None, bytes]
    page_count: int

    @classmethod
    def of(cls, name: str, rows: Iterable[dict[str, Any]]) -> Table:
        ordered = sorted(rows, key=lambda row: row[KEY]["S"])
        split = split_pages(ordered)
        encoded: dict[str | None, bytes] = {}
        start: str | None = None
        for index, page in enumerate(split):
            encoded[start] = json.dumps(_scan_document(page, index < len(split) - 1)).encode()
            start = page[-1][KEY]["S"] if page else None
        return cls(name, ordered, encoded, len(split))

    def scan(self, request: Mapping[str, Any]) -> bytes:
        start = request.get("ExclusiveStartKey", {}).get(KEY, {}).get("S")
        limit = request.get("Limit")
        if limit is None and "ProjectionExpression" not in request and start in self.pages:
            return self.pages[start]
        # The probe (Limit 1, key only) and any other shape of Scan: computed, not pre-encoded.
        rows = [row for row in self.rows if start is None or row[KEY]["S"] > start]
        page = split_pages(rows, limit)[0]
        more = len(page) < len(rows)
        if "ProjectionExpression" in request:
            page = [{KEY: row[KEY]} for row in page]
        return json.dumps(_scan_document(page, more)).encode()

    def get(self, request: Mapping[str, Any]) -> bytes:
        key = request.get("Key", {}).get(KEY, {}).get("S")
        found = next((row for row in self.rows if row[KEY]["S"] == key), None)
        return json.dumps({"Item": found} if found is not None else {}).encode()

    def describe(self) -> bytes:
        description = {
            "TableName": self.name,
            "TableStatus": "ACTIVE",
            "KeySchema": [{"AttributeName": KEY, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": KEY, "AttributeType": "S"}],
            "ItemCount": len(self.rows),
            "TableSizeBytes": sum(item_size(row) for row in self.rows),
            "TableArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{self.name}",
            "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        }
        return json.dumps({"Table": description}).encode()


class DynamoDBStandIn:
    """Serves tables of catalogue items on a free loopback port until `stop()`."""

    def __init__(self) -> None:
        self._tables: dict[str, Table] = {}
        self._lock = threading.Lock()
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="dynamodb-stand-in", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @classmethod
    def start(cls) -> DynamoDBStandIn:
        stand_in = cls()
        stand_in._thread.start()
        return stand_in

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def create_table(self, name: str, items: Iterable[Item] = ()) -> None:
        """Serves `items` (validated catalogue items) as table `name`, replacing any table of that name."""
        self.put_rows(name, (item_to_dynamodb(item) for item in items))

    def put_rows(self, name: str, rows: Iterable[dict[str, Any]]) -> None:
        """Serves raw attribute maps as table `name`: malformed rows included, as another writer might store them."""
        table = Table.of(name, rows)
        with self._lock:
            self._tables[name] = table

    def table(self, name: str) -> Table:
        with self._lock:
            return self._tables[name]

    def answer(self, operation: str, request: Mapping[str, Any]) -> tuple[int, bytes]:
        """The status and body DynamoDB would send for one request."""
        with self._lock:
            self.requests += 1
            table = self._tables.get(str(request.get("TableName")))
        if operation not in ("Scan", "GetItem", "DescribeTable"):
            return 400, _error("UnknownOperationException", f"the stand-in does not serve {operation}")
        if table is None:
            return 400, _error("ResourceNotFoundException", "Requested resource not found")
        if operation == "Scan":
            return 200, table.scan(request)
        return 200, table.get(request) if operation == "GetItem" else table.describe()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The headers and the body leave in two writes: with Nagle's algorithm the body would wait for
            # the client's delayed ACK of the headers, 40 ms on every request of a kept-alive connection.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else target
                status, payload = stand_in.answer(operation, request)
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("x-amzn-RequestId", uuid.uuid4().hex.upper())
                self.send_header("x-amz-crc32", str(zlib.crc32(payload)))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per request would be most of what the benchmark prints

        return Handler


def _error(code: str, message: str) -> bytes:
    return json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
