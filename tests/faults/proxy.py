"""A loopback TCP proxy that sits between the API and moto and misbehaves on request.

Modes:

- `forward`: bytes pass through both ways; each HTTP request is counted.
- `refuse`: the listening socket is closed, so new connections get ECONNREFUSED.
- `blackhole`: connections are accepted and requests read, but nothing is ever answered.
- `throttle`: the next N requests get DynamoDB's own throttling answer (HTTP 400, x-amz-json-1.0,
  `__type` ...#ProvisionedThroughputExceededException or ...#ThrottlingException, `x-amzn-RequestId`,
  `x-amz-crc32`); requests after those N are forwarded.

Changing mode drops every open connection. botocore pools keep-alive connections, and a pooled
connection opened in `forward` mode would otherwise carry requests straight past the new fault.

Requests are framed by their headers and `Content-Length` (botocore always sends one to DynamoDB),
so `requests` counts HTTP requests, not connections or reads: that is what retries are made of.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
import zlib
from dataclasses import dataclass

FORWARD = "forward"
REFUSE = "refuse"
BLACKHOLE = "blackhole"
THROTTLE = "throttle"

PROVISIONED_THROUGHPUT_EXCEEDED = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
THROTTLING = "com.amazon.coral.availability#ThrottlingException"
_THROTTLE_MESSAGES = {
    PROVISIONED_THROUGHPUT_EXCEEDED: "The level of configured provisioned throughput for the table was exceeded.",
    THROTTLING: "Rate of requests exceeds the allowed throughput.",
}


@dataclass(frozen=True)
class SeenRequest:
    """One HTTP request that reached the proxy, and what the proxy did with it."""

    at: float
    target: str
    outcome: str


class FaultProxy:
    """Listens on a free loopback port and relays to `upstream_port`, or fails in the chosen way."""

    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.upstream_port = upstream_port
        probe = socket.socket()
        probe.bind((host, 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._lock = threading.Lock()
        self._mode = FORWARD
        self._throttles_left = 0
        self._throttle_type = PROVISIONED_THROUGHPUT_EXCEEDED
        self._sockets: set[socket.socket] = set()
        self._requests: list[SeenRequest] = []
        self._running = False
        self._want_listening = True
        self._listening = threading.Event()
        self._not_listening = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def mode(self) -> str:
        return self._mode

    # --- control ---------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._running = True
        self._thread = threading.Thread(target=self._accept_loop, name=f"fault-proxy-{self.port}", daemon=True)
        self._thread.start()
        if not self._listening.wait(5):
            raise RuntimeError("fault proxy did not start listening")
        return self

    def stop(self) -> None:
        self._running = False
        self._drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def set_mode(self, mode: str, *, count: int = 1_000_000, error_type: str = PROVISIONED_THROUGHPUT_EXCEEDED) -> None:
        """Switches behaviour; `count` and `error_type` apply to `throttle`. Waits until the listener agrees."""
        if mode not in {FORWARD, REFUSE, BLACKHOLE, THROTTLE}:
            raise ValueError(mode)
        with self._lock:
            self._mode = mode
            self._throttles_left = count if mode == THROTTLE else 0
            self._throttle_type = error_type
        self._drop_connections()
        self._want_listening = mode != REFUSE
        applied = self._listening if self._want_listening else self._not_listening
        if not applied.wait(5):
            raise RuntimeError(f"fault proxy could not switch to {mode}")

    def requests(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # --- listening -------------------------------------------------------------------------

    def _open_listener(self) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(128)
        listener.settimeout(0.05)
        return listener

    def _accept_loop(self) -> None:
        # Only this thread touches the listening socket, so closing it never races a blocked accept().
        listener: socket.socket | None = None
        try:
            while self._running:
                if self._want_listening and listener is None:
                    listener = self._open_listener()
                    self._not_listening.clear()
                    self._listening.set()
                elif not self._want_listening and listener is not None:
                    listener.close()
                    listener = None
                    self._listening.clear()
                    self._not_listening.set()
                if listener is None:
                    self._not_listening.set()
                    time.sleep(0.02)
                    continue
                try:
                    client, _ = listener.accept()
                except (TimeoutError, OSError):
                    continue
                client.settimeout(None)
                self._track(client)
                threading.Thread(target=self._serve_client, args=(client,), daemon=True).start()
        finally:
            if listener is not None:
                listener.close()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def _drop_connections(self) -> None:
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    # --- one client connection -------------------------------------------------------------

    def _serve_client(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        buffer = b""
        try:
            while True:
                request, buffer = _read_request(client, buffer)
                if request is None:
                    return
                outcome = self._decide()
                self._record(request, outcome)
                if outcome == BLACKHOLE:
                    continue
                if outcome == THROTTLE:
                    client.sendall(self._throttle_answer())
                    continue
                if upstream is None:
                    upstream = socket.create_connection((self.host, self.upstream_port), timeout=10)
                    upstream.settimeout(None)
                    self._track(upstream)
                    threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
                upstream.sendall(request)
        except OSError:
            return
        finally:
            self._forget(client)
            if upstream is not None:
                self._forget(upstream)

    def _decide(self) -> str:
        with self._lock:
            if self._mode == THROTTLE and self._throttles_left > 0:
                self._throttles_left -= 1
                return THROTTLE
            return BLACKHOLE if self._mode == BLACKHOLE else FORWARD

    def _record(self, request: bytes, outcome: str) -> None:
        target = ""
        for line in request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"x-amz-target":
                target = value.strip().decode("latin-1")
        with self._lock:
            self._requests.append(SeenRequest(time.monotonic(), target, outcome))

    def _throttle_answer(self) -> bytes:
        error_type = self._throttle_type
        body = json.dumps({"__type": error_type, "message": _THROTTLE_MESSAGES[error_type]}).encode()
        head = (
            "HTTP/1.1 400 Bad Request\r\n"
            f"x-amzn-RequestId: {uuid.uuid4().hex.upper()}\r\n"
            f"x-amz-crc32: {zlib.crc32(body)}\r\n"
            "Content-Type: application/x-amz-json-1.0\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: keep-alive\r\n\r\n"
        )
        return head.encode() + body


def _read_request(sock: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
    """One whole HTTP request (head and body) from `sock`, and what was read beyond it."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        rest += chunk
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


def _pump(source: socket.socket, destination: socket.socket) -> None:
    try:
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            destination.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, destination):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
