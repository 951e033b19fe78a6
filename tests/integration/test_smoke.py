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

from chalicelib import version
from chalicelib.responses import JSON_CONTENT_TYPE, SECURITY_HEADERS
from scripts.harness.local_stack import LOOPBACK, PROJECT_ROOT, free_port, seeded_api
from scripts.operations import smoke

pytestmark = pytest.mark.integration

SMOKE = PROJECT_ROOT / "scripts" / "operations" / "smoke.py"
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


def test_smokes_version_format_and_header_are_the_apps():
    assert smoke.VERSION_HEADER == version.VERSION_HEADER
    assert smoke.JSON_CONTENT_TYPE == JSON_CONTENT_TYPE
    for lambda_version, commit in (("42", "0123456789abcdef"), ("$LATEST", "unknown"), ("7", "v1.2+dirty")):
        value = version.format_version(lambda_version, commit)
        match = smoke.VERSION_FORMAT.fullmatch(value)
        assert match is not None and version.parse_version(value) == match.groupdict()
    for value in ("lambda=42", "commit=abc; lambda=42", "lambda=x; commit=abc", "lambda=42; commit=a b"):
        assert smoke.VERSION_FORMAT.fullmatch(value) is None and version.parse_version(value) is None


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

    def refused_for_now(self, with_body: bool) -> bool:
        """The violations that are about the whole server, not a route: slowness and transient 503s."""
        violation = self.server.violation
        if violation == "slow":
            time.sleep(0.2)
        if violation == "slow-item" and self.path.startswith("/llms/"):
            time.sleep(0.3)
        if violation in ("transient-503-twice", "always-503") and self.server.take_transient_failure():
            self.send(503, {"error": {"code": "service_unavailable", "message": "try again"}}, with_body)
            return True
        return False

    def answer(self, *, with_body: bool) -> None:
        violation = self.server.violation
        if self.refused_for_now(with_body):
            return
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
        headers["Cache-Control"] = "public, max-age=60" if cached else "no-store"
        if violation == "cache-control-missing-on-errors" and status >= 400:
            del headers["Cache-Control"]
        if violation == "health-cacheable" and self.path.startswith("/health"):
            headers["Cache-Control"] = "public, max-age=60"
        headers["Content-Type"] = "text/plain" if violation == "content-type-not-json" and cached else JSON_CONTENT_TYPE
        if violation != "version-missing":
            mixed = violation == "two-versions" and self.path.startswith("/health")
            headers[version.VERSION_HEADER] = version.format_version("41" if mixed else "42", "abc123")
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
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
        self.answered = 0
        self._lock = threading.Lock()

    def take_transient_failure(self) -> bool:
        """True for the first two requests ("transient-503-twice") or every request ("always-503")."""
        with self._lock:
            self.answered += 1
            return self.violation == "always-503" or self.answered <= 2


@contextmanager
def fake_server(violation: str = "") -> Iterator[FakeServer]:
    server = FakeServer(violation)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def fake_api(violation: str = "") -> Iterator[str]:
    with fake_server(violation) as server:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"


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
        ("content-type-not-json", "content-type"),
        ("cache-control-missing-on-errors", "cache-control"),
        ("health-cacheable", "cache-control"),
        ("version-missing", "version"),
        ("two-versions", "version"),
    ],
)
def test_smoke_fails_naming_the_check_the_broken_server_violates(violation, failed_check):
    with fake_api(violation) as url:
        run = run_smoke(url)
    assert run.returncode == 1
    assert list(run.verdicts) == list(smoke.CHECKS)
    assert run.failed == {failed_check}


def test_smoke_names_the_version_it_was_told_to_expect_and_fails_on_another():
    with fake_api() as url:
        right = run_smoke(url, "--expect-lambda-version", "42", "--expect-commit", "abc123")
        wrong_version = run_smoke(url, "--expect-lambda-version", "43")
        wrong_commit = run_smoke(url, "--expect-commit", "def456")
    assert right.returncode == 0
    assert "every answer from lambda=42; commit=abc123" in right.stdout
    assert wrong_version.failed == {"version"} and "expected lambda=43" in wrong_version.stdout
    assert wrong_commit.failed == {"version"} and "expected commit=def456" in wrong_commit.stdout


def test_smoke_fails_latency_naming_each_answer_over_the_per_request_budget():
    with fake_api("slow-item") as url:
        slow = run_smoke(url, "--request-budget-ms", "250")
        generous = run_smoke(url, "--request-budget-ms", "1000")
    assert slow.failed == {"latency"}
    # Each of the six requests for an item (item, not-found, etag twice, GET and HEAD) is over the budget.
    assert "FAIL latency: 6 over 250 ms, e.g. " in slow.stdout
    assert generous.returncode == 0


def test_smoke_retries_a_transient_503_and_passes_saying_so():
    with fake_api("transient-503-twice") as url:
        run = run_smoke(url)
    assert run.returncode == 0, run.stdout
    assert "1 answer(s) needed a retry" in run.stdout


def test_smoke_retries_a_bounded_number_of_times_then_fails():
    with fake_server("always-503") as server:
        url = f"http://{LOOPBACK}:{server.server_address[1]}"
        stage = smoke.Stage(url, budget_seconds=10, request_timeout_seconds=1, retries=1)
        answer = stage.request("/health")
        assert (answer.status, answer.attempts, server.answered) == (503, 2, 2)
        assert stage.answers == [answer], "the attempts before the last are not answers to check"
        run = run_smoke(url, "--retries", "1")
    assert run.returncode == 1
    assert "health" in run.failed and "expected 200" in run.stdout


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
