"""A bounded headless locust run against `chalice local`: a few hundred concurrent users, zero failures, zero 5xx.

LOAD_USERS, LOAD_SPAWN_RATE and LOAD_SECONDS tune the run (defaults: 300 users, 100/s, 20 s).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.harness.local_stack import ChaliceLocal, seeded_api

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
USERS = int(os.environ.get("LOAD_USERS", "300"))
SPAWN_RATE = int(os.environ.get("LOAD_SPAWN_RATE", "100"))
SECONDS = int(os.environ.get("LOAD_SECONDS", "20"))


@pytest.fixture(scope="module")
def api() -> Iterator[ChaliceLocal]:
    # A TTL longer than the run: this measures serving from the snapshot, as a warm container does.
    with seeded_api({"CACHE_TTL_SECONDS": "600"}) as server:
        yield server


def test_hundreds_of_concurrent_users_get_no_errors(api, tmp_path):
    prefix = tmp_path / "load"
    command = [
        str(Path(sys.executable).with_name("locust")),
        "-f",
        str(ROOT / "loadtest" / "locustfile.py"),
        "--host",
        api.base_url,
        "--headless",
        "-u",
        str(USERS),
        "-r",
        str(SPAWN_RATE),
        "-t",
        f"{SECONDS}s",
        "--stop-timeout",
        "10",
        "--only-summary",
        "--csv",
        str(prefix),
        "--loglevel",
        "WARNING",
    ]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=SECONDS + 120, env={**os.environ}
    )
    output = result.stdout + result.stderr
    with open(f"{prefix}_stats.csv", newline="") as stats_file:
        rows = list(csv.DictReader(stats_file))
    (total,) = [row for row in rows if row["Name"] == "Aggregated"]
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    print(
        f"\nload: {USERS} users x {SECONDS} s -> {requests} requests, {failures} failures, "
        f"{float(total['Requests/s']):.0f} req/s, p50 {total['50%']} ms, p99 {total['99%']} ms"
    )
    status_line = next((line for line in output.splitlines() if line.startswith("status classes:")), "")
    print(status_line)

    assert result.returncode == 0, output[-4000:]
    assert failures == 0, Path(f"{prefix}_failures.csv").read_text()[:4000]
    assert "5xx=" not in status_line and "transport_error=" not in status_line, status_line
    # Enough traffic that "zero errors" means something: every user made several requests.
    assert requests >= USERS * 3, requests
    for name in (
        "/llms",
        "/llms?sort&limit&next_token (walk)",
        "/llms/{model_name}",
        "conditional GET (If-None-Match)",
    ):
        assert any(row["Name"] == name and int(row["Request Count"]) > 0 for row in rows), name

    # The server's own view agrees: no 5xx logged, 304s were really served, and nearly all reads were cache hits.
    lines = [line for line in api.log_lines() if line.get("message") == "request"]
    assert lines and not [line for line in lines if line["status"] >= 500]
    assert any(line["status"] == 304 for line in lines)
    hits = sum(1 for line in lines if line["cache"] == "HIT")
    assert hits >= 0.95 * sum(1 for line in lines if line["cache"] != "NONE")
