"""Contract fuzzing: schemathesis drives `chalice local` over real HTTP with every check on.

The run covers every phase (examples, coverage, fuzzing, stateful through the document's links),
generates valid and invalid input for every parameter and path, and fails on any 5xx or any
response that does not match openapi.yaml. FUZZ_MAX_EXAMPLES and FUZZ_SEED tune or replay a run.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import ChaliceLocal, seeded_api

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "100"))
RUN_TIMEOUT_SECONDS = 420


@pytest.fixture(scope="module")
def api() -> Iterator[ChaliceLocal]:
    with seeded_api() as server:
        yield server


def test_api_conforms_to_openapi_under_generated_and_malformed_input(api, tmp_path):
    report_path = tmp_path / "schemathesis.json"
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        str(ROOT / "openapi.yaml"),
        "--url",
        api.base_url,
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "2",
        "--request-timeout",
        "15",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report_path),
    ]
    if os.environ.get("FUZZ_SEED"):
        command += ["--seed", os.environ["FUZZ_SEED"]]
    environment = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    # cwd is a scratch directory so schemathesis leaves nothing behind in the repository.
    result = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS
    )
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    generated = report.get("test_cases", {}).get("generated", 0)
    print(f"\nschemathesis: {generated} test cases, seed {report.get('seed')}, exit {result.returncode}")
    print(f"command: {shlex.join(command)}")

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert report["exit_code"] == 0 and report["complete"] is True
    assert report["failures"] == [] and report["errors"] == []
    assert report["operations"]["tested"] == report["operations"]["total"] == 3
    assert {name: phase["status"] for name, phase in report["phases"].items()} == {
        "examples": "skip",  # the document carries no examples; generation covers them
        "coverage": "success",
        "fuzzing": "success",
        "stateful": "success",
    }
    # A run that generated little proves little: each operation must have been exercised properly.
    assert generated >= 3 * MAX_EXAMPLES, generated

    # The server's own view: every request it answered is logged, and none was a 5xx.
    lines = [line for line in api.log_lines() if line.get("message") == "request"]
    assert len(lines) >= generated // 2
    server_errors = [line for line in lines if line["status"] >= 500]
    assert server_errors == []
