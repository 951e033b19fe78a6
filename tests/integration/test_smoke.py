"""`make smoke`: passes against `chalice local` in under 10 s, and fails, naming the check, against a broken server.

The broken server is a small fake of the contract on loopback. Without a violation it
passes every check (the control case), so each violation below fails exactly the
check that should catch it, and nothing else.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.responses import SECURITY_HEADERS
from scripts import smoke
from scripts.local_stack import LOOPBACK, PROJECT_ROOT, free_port, seeded_api

pytestmark = pytest.mark.integration

SMOKE = PROJECT_ROOT / "scripts" / "smoke.py"
LINE = re.compile(r"^(PASS|FAIL) ([a-z-]+): (.+)$")


@dataclass
class SmokeRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def verdicts(self) -> dict[str, str]:
        """check name → PASS or FAIL, in the order printed; every line must be a check's line."""
        verdicts = {}
        for line in self.stdout.splitlines():
            match = LINE.match(line)
            assert match, f"not a check line: {line!r}\n{self.stdout}"
            verdicts[match.group(2)] = match.group(1)
        return verdicts

    @property
    def failed(self) -> set[str]:
        return {name for name, verdict in self.verdicts.items() if verdict == "FAIL"}


def run_smoke(*arguments: str) -> SmokeRun:
    # -I -S: no site-packages and no project on the path, as on a bare deploy runner.
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(SMOKE), *arguments], capture_output=True, text=True, timeout=60
    )
    run = SmokeRun(result.returncode, result.stdout, result.stderr, time.monotonic() - started)
    print(run.stdout, run.stderr)
    return run


def test_expected_security_headers_are_the_apps():
    assert smoke.EXPECTED_SECURITY_HEADERS == SECURITY_HEADERS


def test_smoke_imports_only_the_standard_library():
    tree = ast.parse(SMOKE.read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported and imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_make_smoke_passes_against_chalice_local_in_under_ten_seconds():
    with seeded_api() as api:
        started = time.monotonic()
        result = subprocess.run(
            ["make", "--no-print-directory", "smoke", f"URL={api.base_url}", f"PYTHON={sys.executable} -I -S"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        seconds = time.monotonic() - started
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    run = SmokeRun(result.returncode, result.stdout.split("\n", 1)[1], result.stderr, seconds)  # minus make's echo
    assert run.verdicts == dict.fromkeys(smoke.CHECKS, "PASS")
    assert "36 items over 4 pages" in run.stdout
    assert seconds < 10


def test_make_smoke_without_url_is_a_usage_error():
    result = subprocess.run(["make", "--no-print-directory", "smoke"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "usage: make smoke URL=" in result.stderr


def test_smoke_refuses_a_url_that_is_not_http():
    run = run_smoke("ftp://example.com/api")
    assert run.returncode == 2 and "not an http(s) URL" in run.stderr


def test_smoke_fails_every_request_when_nothing_listens():
    run = run_smoke(f"http://{LOOPBACK}:{free_port()}")
    assert run.returncode == 1
    assert run.failed == set(smoke.CHECKS) - {"time-budget"}
    assert "no answer" in run.stdout


# The fake: a catalogue of 23 models whose scores tie in runs, so page boundaries fall inside ties.
CATALOGUE: list[dict[str, Any]] = [
    {
        "model_name": f"model-{index:02d}",
        "provider": f"Provider {index % 3}",
        "context_window": 8192,
        "score": 50 + index % 5,
    }
    for index in range(23)
]


# What a front door may serve instead of the API's HSTS: CloudFront's response-headers policy (override: true,
# preload: true) sends the first; the others weaken the API's own directives.
CLOUDFRONT_HSTS = "max-age=63072000; includeSubDomains; preload"
SERVED_HSTS = {
    "behind-cloudfront": CLOUDFRONT_HSTS,
    "hsts-shorter-max-age": "max-age=31536000; includeSubDomains; preload",
    "hsts-without-include-subdomains": "max-age=63072000; preload",
}


def _etag(body: bytes, violation: str) -> str:
    digest = hashlib.sha256(body).hexdigest()[:16]
    return f'"{digest}"' if violation == "strong-etag" else f'W/"{digest}"'


class FakeApi(BaseHTTPRequestHandler):
    """The contract as the smoke test sees it, less one `violation` (the server's attribute)."""

    server: FakeServer

    def log_message(self, format: str, *args: object) -> None:  # quiet: the test output is the smoke output
        pass

    def do_GET(self) -> None:
        self.answer(with_body=True)

    def do_HEAD(self) -> None:
        if self.server.violation == "head-not-allowed":
            self.send(405, {"error": {"code": "MethodNotAllowedError", "message": "HEAD"}}, with_body=False)
            return
        self.answer(with_body=False)

    def answer(self, *, with_body: bool) -> None:
        violation = self.server.violation
        if violation == "slow":
            time.sleep(0.2)
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/health":
            if query.get("deep") == "true":
                if violation == "deep-health-hangs":
                    time.sleep(2)
                if violation == "deep-health-failing":
                    self.send(503, {"error": {"code": "dependency_unavailable", "message": "down"}}, with_body)
                    return
                self.send(200, {"status": "ok", "checks": {"dynamodb": "ok"}}, with_body)
                return
            self.send(200, {"status": "ok"}, with_body)
        elif url.path == "/llms":
            self.list_page(query, with_body)
        elif url.path.startswith("/llms/"):
            name = urllib.parse.unquote(url.path.removeprefix("/llms/"))
            item = next((item for item in CATALOGUE if item["model_name"] == name), None)
            if item is None and violation == "not-found-answers-200":
                item = {**CATALOGUE[0], "model_name": name}
            if item is None:
                self.send(404, {"error": {"code": "not_found", "message": f"no model {name!r}"}}, with_body)
                return
            self.send(200, item, with_body, cached=True)
        else:
            self.send(403, {"message": "Missing Authentication Token"}, with_body)

    def list_page(self, query: dict[str, str], with_body: bool) -> None:
        violation = self.server.violation
        limit_text = query.get("limit", "100")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
            if violation != "bad-request-accepted":
                message = "'limit' must be an integer from 1 to 1000"
                self.send(400, {"error": {"code": "invalid_parameter", "message": message}}, with_body)
                return
            limit_text = "100"
        limit = int(limit_text)
        items = sorted(CATALOGUE, key=lambda item: item["model_name"])
        if query.get("sort") == "score" and violation != "unsorted":
            items.sort(key=lambda item: -item["score"])
        start = int(base64.urlsafe_b64decode(query["next_token"])) if "next_token" in query else 0
        page = items[start : start + limit]
        payload: dict[str, object] = {"items": page, "count": len(page)}
        end = start + limit
        if end < len(items):
            end += {"duplicate-across-pages": -1, "skipped-item": 1}.get(violation, 0)
            payload["next_token"] = base64.urlsafe_b64encode(str(end).encode()).decode()
        self.send(200, payload, with_body, cached=True)

    def send(self, status: int, payload: object, with_body: bool, *, cached: bool = False) -> None:
        violation = self.server.violation
        body = json.dumps(payload).encode()
        headers = dict(SECURITY_HEADERS)
        if violation == "security-header-missing-on-errors" and status >= 400:
            del headers["Strict-Transport-Security"]
        if violation in SERVED_HSTS:
            headers["Strict-Transport-Security"] = SERVED_HSTS[violation]
        if cached:
            etag = _etag(body, violation)
            headers["ETag"] = etag
            if self.headers.get("If-None-Match") == etag and violation != "etag-ignored":
                status, body = 304, b""
        self.send_response(status)
        for name, value in {**headers, "Content-Type": "application/json", "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        if with_body:
            self.wfile.write(body)


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, violation: str) -> None:
        super().__init__((LOOPBACK, 0), FakeApi)
        self.violation = violation


@contextmanager
def fake_api(violation: str = "") -> Iterator[str]:
    server = FakeServer(violation)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_smoke_passes_against_the_fake_without_a_violation():
    with fake_api() as url:
        run = run_smoke(url)
    assert run.returncode == 0
    assert run.verdicts == dict.fromkeys(smoke.CHECKS, "PASS")
    assert "23 items over 4 pages of 6" in run.stdout


@pytest.mark.parametrize(
    ("violation", "failed_check"),
    [
        ("duplicate-across-pages", "walk"),
        ("skipped-item", "walk"),
        ("unsorted", "walk"),
        ("deep-health-failing", "deep-health"),
        ("not-found-answers-200", "not-found"),
        ("bad-request-accepted", "bad-request"),
        ("etag-ignored", "etag"),
        ("strong-etag", "etag"),
        ("head-not-allowed", "head"),
        ("security-header-missing-on-errors", "security-headers"),
        ("hsts-shorter-max-age", "security-headers"),
        ("hsts-without-include-subdomains", "security-headers"),
    ],
)
def test_smoke_fails_naming_the_check_the_broken_server_violates(violation, failed_check):
    with fake_api(violation) as url:
        run = run_smoke(url)
    assert run.returncode == 1
    assert list(run.verdicts) == list(smoke.CHECKS)
    assert run.failed == {failed_check}


def test_smoke_gives_up_on_a_request_that_hangs_and_carries_on():
    with fake_api("deep-health-hangs") as url:
        run = run_smoke(url, "--request-timeout", "0.5")
    assert run.returncode == 1
    assert run.failed == {"deep-health"}
    assert "timed out" in run.stdout


def test_smoke_fails_and_stops_when_over_its_time_budget():
    with fake_api("slow") as url:
        run = run_smoke(url, "--budget-seconds", "1")
    assert run.returncode == 1
    assert "time-budget" in run.failed and "health" not in run.failed
    assert "time budget of 1 s exhausted" in run.stdout
    assert run.seconds < 3


def test_smoke_passes_behind_cloudfront_which_adds_preload_to_hsts():
    with fake_api("behind-cloudfront") as url:
        run = run_smoke(url)
    assert run.returncode == 0, run.stdout
    assert run.verdicts == dict.fromkeys(smoke.CHECKS, "PASS")


API_HSTS = SECURITY_HEADERS["Strict-Transport-Security"]


@pytest.mark.parametrize(
    "served",
    [
        API_HSTS,
        CLOUDFRONT_HSTS,
        "max-age=63072001; includeSubDomains",
        'max-age="63072000"; includesubdomains',  # RFC 6797: names are case-insensitive, values may be quoted
        "includeSubDomains; max-age=63072000",
        " max-age=63072000 ;includeSubDomains; ",
    ],
)
def test_hsts_at_least_as_strict_as_the_apis_is_accepted(served):
    assert smoke.header_as_expected("Strict-Transport-Security", API_HSTS, served)


@pytest.mark.parametrize(
    "served",
    [
        None,
        "",
        "max-age=63071999; includeSubDomains; preload",
        "max-age=0; includeSubDomains",
        "includeSubDomains; preload",
        "max-age=63072000; preload",
        "max-age=63072000",
        "max-age=-1; includeSubDomains",
        "max-age=\u00b2; includeSubDomains",
        "max-age=63072000; max-age=63072000; includeSubDomains",  # a repeated directive voids the header
    ],
)
def test_hsts_weaker_than_the_apis_is_refused(served):
    assert not smoke.header_as_expected("Strict-Transport-Security", API_HSTS, served)


def test_other_security_headers_must_be_exactly_the_apis():
    assert smoke.header_as_expected("X-Frame-Options", "DENY", "DENY")
    assert not smoke.header_as_expected("X-Frame-Options", "DENY", "DENY; preload")


@pytest.mark.parametrize(("etag", "weak"), [('W/"abc"', True), ('W/"abc"\n', False), ('"abc"', False), (None, False)])
def test_a_weak_etag_is_recognised_only_as_a_whole_value(etag, weak):
    assert smoke.is_weak_etag(etag) is weak
