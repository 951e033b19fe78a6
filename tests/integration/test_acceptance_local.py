"""`make acceptance STAGE=local` against `make run`'s stack: the checks that apply locally pass, every other one
is skipped with its reason, drills included, and the report holds to its schema."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.acceptance.report import schema_errors
from scripts.harness import local_stack

LOCAL_PASSES = {"api_smoke", "table_ready"}


def test_make_acceptance_on_the_local_stage_passes_what_applies_and_skips_the_rest(tmp_path: Path) -> None:
    api_port, dynamodb_port = local_stack.free_port(), local_stack.free_port()
    environment = {key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL_DYNAMODB"}
    stack = subprocess.Popen(
        [
            sys.executable,
            "scripts/harness/run_local.py",
            "--port",
            str(api_port),
            "--dynamodb-port",
            str(dynamodb_port),
        ],
        cwd=local_stack.PROJECT_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        local_stack.wait_for_http(f"http://127.0.0.1:{api_port}/health", stack, timeout_seconds=90)
        # `-o install`: the recipe exactly as the Makefile writes it, without re-checking the venv.
        run = subprocess.run(
            [
                "make",
                "--no-print-directory",
                "-o",
                "install",
                "acceptance",
                "STAGE=local",
                "ALARM_DRILL=1",
                "ROLLBACK_DRILL=1",
                f"OUT={tmp_path}",
            ],
            cwd=local_stack.PROJECT_ROOT,
            env={**environment, "PORT": str(api_port), "DYNAMODB_PORT": str(dynamodb_port)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        local_stack.stop(stack)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert (tmp_path / "report.md").read_text().startswith("# Acceptance of stage `local`: passed")
    assert schema_errors(report) == []
    assert report["stage"] == "local" and report["drills"] == ["alarm-drill", "rollback-drill"]
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert {name for name, status in statuses.items() if status == "pass"} == LOCAL_PASSES
    assert {name for name, status in statuses.items() if status != "pass"} == set(statuses) - LOCAL_PASSES
    assert all(status == "skip" for name, status in statuses.items() if name not in LOCAL_PASSES)
    assert all(check["reason"] for check in report["checks"])


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_still_writes_its_report_and_exits_130(tmp_path: Path, signal_number: int) -> None:
    # An API that accepts connections and never answers: the run is interrupted while api_smoke waits on it.
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scripts.acceptance",
                "--stage",
                "local",
                "--api-url",
                f"http://127.0.0.1:{listener.getsockname()[1]}",
                "--only",
                "api_smoke,table_ready",
                "--out",
                str(tmp_path),
            ],
            cwd=local_stack.PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert run.stdout is not None
        assert run.stdout.readline().startswith("acceptance of stage local")
        connection, _ = listener.accept()  # api_smoke is now inside its first request
        run.send_signal(signal_number)
        _, errors = run.communicate(timeout=30)
        connection.close()
    finally:
        listener.close()
    assert run.returncode == 130, errors
    report = json.loads((tmp_path / "report.json").read_text())
    assert schema_errors(report) == [] and report["interrupted"] is True
    assert [(check["name"], check["status"]) for check in report["checks"]] == [
        ("api_smoke", "fail"),
        ("table_ready", "skip"),
    ]
    assert "interrupted" in report["checks"][0]["reason"] and "not run" in report["checks"][1]["reason"]
