"""A DynamoDB stand-in on loopback that answers Scan page by page, as slowly as a test asks.

It speaks DynamoDB's JSON protocol over real HTTP (`x-amz-json-1.0`, `x-amzn-RequestId`, and
the `x-amz-crc32` botocore verifies), so the API's own botocore client reads it unchanged. It
controls paging itself, `page_size` items a page with `LastEvaluatedKey`, the way DynamoDB stops
a page at 1 MB: the API sends the same Scan it sends in production, and gets many pages from a
small catalogue. moto can't do this cheaply: it pages at 1 MB and takes seconds per page.

Knobs: `page_delay_seconds` (each Scan answers after that long), `stall_from_page` (that page
and every later one are never answered: the page that never comes), and `items` (the catalogue
served). Every request is recorded with its arrival time.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chalicelib.models import item_to_dynamodb

SCAN = "DynamoDB_20120810.Scan"


@dataclass(frozen=True)
class SeenScan:
    """One Scan that reached the stand-in: when, which page it asked for, and whether it was a probe."""

    at: float
    page: int
    limit: int | None


class ScanStandIn:
    """Serves `items` as a paged table on a free loopback port."""

    def __init__(self, items: list[dict[str, Any]], page_size: int) -> None:
        self.page_size = page_size
        self.page_delay_seconds = 0.0
        self.stall_from_page: int | None = None
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []
        self._scans: list[SeenScan] = []
        self._stopping = threading.Event()
        self.set_items(items)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="scan-stand-in", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def pages(self) -> int:
        """How many pages a whole Scan of the current catalogue takes."""
        return -(-len(self._rows) // self.page_size)

    def start(self) -> ScanStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # lets stalled answers go, so their threads end
        self._server.shutdown()
        self._server.server_close()

    def set_items(self, items: list[dict[str, Any]]) -> None:
        rows = sorted((item_to_dynamodb(item) for item in items), key=lambda row: row["model_name"]["S"])
        with self._lock:
            self._rows = rows

    def scans(self, since: float = 0.0) -> list[SeenScan]:
        """The Scans that arrived at or after `since` (a `time.monotonic()` value)."""
        with self._lock:
            return [scan for scan in self._scans if scan.at >= since]

    # --- answering -------------------------------------------------------------------------

    def _answer(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The page `request` asks for, or None for a page that is never answered."""
        with self._lock:
            rows = self._rows
            start_key = request.get("ExclusiveStartKey", {}).get("model_name", {}).get("S")
            start = 0
            if start_key is not None:
                start = next((index for index, row in enumerate(rows) if row["model_name"]["S"] > start_key), len(rows))
            page = start // self.page_size + 1
            limit = request.get("Limit")
            self._scans.append(SeenScan(time.monotonic(), page, limit))
            stall = self.stall_from_page is not None and page >= self.stall_from_page
            delay = self.page_delay_seconds
        if stall:
            self._stopping.wait()
            return None
        if delay:
            self._stopping.wait(delay)
        size = min(self.page_size, limit) if limit else self.page_size
        chosen = rows[start : start + size]
        if "ProjectionExpression" in request:
            chosen = [{"model_name": row["model_name"]} for row in chosen]
        answer: dict[str, Any] = {"Items": chosen, "Count": len(chosen), "ScannedCount": len(chosen)}
        if start + size < len(rows):
            answer["LastEvaluatedKey"] = {"model_name": rows[start + size - 1]["model_name"]}
        return answer

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                if self.headers.get("X-Amz-Target") != SCAN:
                    self._send(400, {"__type": "com.amazon.coral.service#UnknownOperationException"})
                    return
                answer = stand_in._answer(request)
                if answer is None:
                    self.close_connection = True
                    return
                self._send(200, answer)

            def _send(self, status: int, document: dict[str, Any]) -> None:
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("x-amzn-RequestId", uuid.uuid4().hex.upper())
                self.send_header("x-amz-crc32", str(zlib.crc32(payload)))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the tests read `scans()`, not stderr

        return Handler
