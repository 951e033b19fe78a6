"""`make run`'s script end to end: it starts moto and chalice local, serves seeded data that `make smoke`
accepts, and cleans up on Ctrl-C."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from scripts.harness import local_stack

pytestmark = pytest.mark.integration


def start_make_run(stderr: int) -> tuple[subprocess.Popen[str], int, int]:
    """`make run`'s script on free ports: the process, the API's port and DynamoDB's."""
    api_port, dynamodb_port = local_stack.free_port(), local_stack.free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "scripts/harness/run_local.py",
            "--port",
            str(api_port),
            "--dynamodb-port",
            str(dynamodb_port),
        ],
        cwd=local_stack.PROJECT_ROOT,
        env={key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL_DYNAMODB"},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
    )
    return process, api_port, dynamodb_port


def test_run_local_serves_seeded_data_and_stops_everything_on_ctrl_c():
    process, api_port, dynamodb_port = start_make_run(subprocess.PIPE)
    try:
        local_stack.wait_for_http(f"http://127.0.0.1:{api_port}/health", process, timeout_seconds=90)
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/llms?limit=1000", timeout=30) as response:
            payload = json.load(response)
        assert payload["count"] >= 30
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=60)
    finally:
        local_stack.stop(process)
    assert "stopped" in errors
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        local_stack.port_is_open(api_port) or local_stack.port_is_open(dynamodb_port)
    ):
        time.sleep(0.1)
    assert not local_stack.port_is_open(api_port) and not local_stack.port_is_open(dynamodb_port)


def test_run_local_refuses_a_busy_port():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "scripts/harness/run_local.py",
                "--port",
                str(port),
                "--dynamodb-port",
                str(local_stack.free_port()),
            ],
            cwd=local_stack.PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1 and "already in use" in result.stderr


def test_make_smoke_passes_against_what_make_run_serves():
    process, api_port, _ = start_make_run(subprocess.DEVNULL)
    try:
        local_stack.wait_for_http(f"http://127.0.0.1:{api_port}/health", process, timeout_seconds=90)
        smoke = subprocess.run(
            [sys.executable, "scripts/operations/smoke.py", f"http://127.0.0.1:{api_port}"],
            cwd=local_stack.PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        local_stack.stop(process)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert smoke.stdout.count("PASS ") >= 9, smoke.stdout
