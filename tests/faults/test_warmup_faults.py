"""The warmer against a Lambda Invoke endpoint that errors, throttles or hangs, over real HTTP on loopback.

A tiny server speaks the Invoke API (`POST /2015-03-31/functions/{name}/invocations`) and a real
boto3 Lambda client is pointed at it, so the failure travels through botocore's parsing and retries
exactly as it would from AWS.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config

from chalicelib.config import Settings
from chalicelib.observability import log_handler
from chalicelib.warmup import warm_api

FUNCTION = "llm-scores-faults"
READ_TIMEOUT = 0.5
MAX_ATTEMPTS = 2
MAX_BACKOFF = 1.0  # standard mode: random() * 2 ** 0 before the only retry
SLACK = 2.0


class LambdaEmulator(ThreadingHTTPServer):
    """Answers Invoke the way Lambda does, in the mode the test chooses."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _InvokeHandler)
        self.mode = "ok"
        self.failures_left = 0  # in "some_unhandled": how many invocations fail before the rest succeed
        self.lock = threading.Lock()
        self.invocations: list[dict[str, Any]] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _InvokeHandler(BaseHTTPRequestHandler):
    server: LambdaEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"null")
        with self.server.lock:
            self.server.invocations.append({"path": self.path, "payload": payload})
            mode = self.server.mode
            if mode == "some_unhandled":
                mode = "unhandled" if self.server.failures_left > 0 else "ok"
                self.server.failures_left -= 1
        if not self.path.startswith(f"/2015-03-31/functions/{FUNCTION}/invocations"):
            self._answer(
                404,
                {"Type": "User", "message": "Function not found"},
                {"x-amzn-ErrorType": "ResourceNotFoundException"},
            )
        elif mode == "hang":
            time.sleep(READ_TIMEOUT * 3)  # well past the client's read timeout; the answer goes nowhere
            self._answer(200, {"container_id": "late"})
        elif mode == "unhandled":
            self._answer(
                200,
                {"errorMessage": "Task timed out after 10.00 seconds", "errorType": "Sandbox.Timedout"},
                {"X-Amz-Function-Error": "Unhandled"},
            )
        elif mode == "throttled":
            self._answer(
                429,
                {
                    "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                    "Type": "User",
                    "message": "Rate Exceeded.",
                },
                {"x-amzn-ErrorType": "TooManyRequestsException"},
            )
        else:
            self._answer(200, {"container_id": uuid.uuid4().hex, "cold_start": True, "cache": "MISS", "items": 36})

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.send_header("X-Amz-Executed-Version", "$LATEST")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)
        except OSError:
            pass  # the client gave up (read timeout) before the answer came


@pytest.fixture
def emulator() -> Iterator[LambdaEmulator]:
    server = LambdaEmulator()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def lambda_client(emulator: LambdaEmulator) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=emulator.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(
            connect_timeout=0.5,
            read_timeout=READ_TIMEOUT,
            retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        ),
    )


@pytest.fixture
def warmup_log() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    previous = log_handler.setStream(buffer)
    try:
        yield buffer
    finally:
        log_handler.setStream(previous)


def settings(concurrency: int) -> Settings:
    base = Settings.from_environment({"API_FUNCTION_NAME": FUNCTION, "WARMUP_HOLD_MILLISECONDS": "5"})
    return replace(base, warmup_concurrency=concurrency)


def warm_up_line(buffer: io.StringIO) -> dict[str, Any]:
    (line,) = [json.loads(raw) for raw in buffer.getvalue().splitlines() if '"warm-up"' in raw]
    return line


def test_healthy_function_is_reported_as_reached(emulator, lambda_client, warmup_log):
    report = warm_api(settings(3), lambda_client)
    assert report["succeeded"] == 3 and report["failed"] == 0 and report["distinct_containers"] == 3
    assert len(emulator.invocations) == 3
    assert emulator.invocations[0]["payload"] == {"llm_scores_warmup": {"hold_milliseconds": 5}}
    assert warm_up_line(warmup_log)["WarmupFailures"] == 0


def test_function_errors_are_counted_not_raised(emulator, lambda_client, warmup_log):
    emulator.mode = "some_unhandled"
    emulator.failures_left = 2
    report = warm_api(settings(4), lambda_client)
    assert report["requested"] == 4 and report["failed"] == 2 and report["succeeded"] == 2
    assert all("Unhandled: Task timed out" in error for error in report["errors"])
    # A function error is an answer, not a transport failure: it must not be retried into a storm.
    assert len(emulator.invocations) == 4
    line = warm_up_line(warmup_log)
    assert line["WarmupFailures"] == 2 and line["WarmupContainers"] == 2


def test_function_that_never_answers_is_bounded_by_the_client_timeouts(emulator, lambda_client, warmup_log):
    emulator.mode = "hang"
    started = time.monotonic()
    report = warm_api(settings(2), lambda_client)
    elapsed = time.monotonic() - started
    assert report["failed"] == 2 and report["succeeded"] == 0
    assert all("ReadTimeoutError" in error for error in report["errors"])
    assert MAX_ATTEMPTS * READ_TIMEOUT - 0.1 <= elapsed < MAX_ATTEMPTS * READ_TIMEOUT + MAX_BACKOFF + SLACK
    assert len(emulator.invocations) == 2 * MAX_ATTEMPTS
    assert warm_up_line(warmup_log)["WarmupFailures"] == 2


def test_throttled_invocations_are_retried_boundedly_and_reported(emulator, lambda_client, warmup_log):
    emulator.mode = "throttled"
    report = warm_api(settings(2), lambda_client)
    assert report["failed"] == 2
    assert all("TooManyRequestsException" in error for error in report["errors"])
    assert len(emulator.invocations) == 2 * MAX_ATTEMPTS
    assert warm_up_line(warmup_log)["WarmupFailures"] == 2
