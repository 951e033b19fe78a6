"""`make smoke URL=https://<id>.execute-api.<region>.amazonaws.com/api`: a read-only, black-box check of a stage.

It checks what a client sees and nothing else: health and deep health, a full
paginated walk in which every item appears exactly once, one item, a 404, a 400,
ETag revalidation (`If-None-Match` answers 304), HEAD on every route, and on every
answer the security headers, the JSON Content-Type, the Cache-Control its route
promises, a per-request latency budget, and which version answered (`X-Api-Version`:
`--expect-lambda-version 42 --expect-commit <sha>` makes it name that one). One line
per check; exit 0 when all pass, 1 otherwise.

    python scripts/operations/smoke.py URL [--expect-lambda-version N] [--expect-commit SHA]
                                           [--request-budget-ms 2000] [--retries 2]

A transient failure (no connection, 429, 502, 503, 504) is retried up to `--retries` times with a short
backoff, inside the run's budget; a request that times out is not, having spent its time already.

Standard library only, and nothing imported from the app: a deploy runner needs
no virtualenv, and the check cannot share a bug with the code it checks. The
expected security headers are therefore written out here; a test keeps them
equal to `chalicelib.responses.SECURITY_HEADERS`.

The expected version header format is written out here too (`VERSION_FORMAT`); a test keeps it equal to
`chalicelib.version`'s.

The whole run has a time budget (10 s by default) and each request a timeout, so
a hanging stage fails the smoke test instead of hanging the deploy.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_BUDGET_SECONDS = 10.0
DEFAULT_REQUEST_TIMEOUT_SECONDS = 5.0
# Each answer's own limit: a cold start on Lambda's python3.13 plus one DynamoDB read stays well under it.
DEFAULT_REQUEST_BUDGET_MILLISECONDS = 2000.0
DEFAULT_RETRIES = 2
RETRY_BACKOFF_SECONDS = 0.1
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
MAX_LIMIT = 1000
# The paged walk splits the catalogue into about this many pages, whatever its size.
WALK_PAGES = 4
USER_AGENT = "llm-scores-smoke/1"

# Sent on every answer, errors and 304s included (chalicelib/responses.py; a test keeps the two equal).
# Each must come back exactly, except HSTS, which may come back stricter (`hsts_keeps`).
EXPECTED_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# What every answer names (chalicelib/version.py; a test keeps the two equal): the Lambda version and the commit.
VERSION_HEADER = "X-Api-Version"
VERSION_FORMAT = re.compile(r"lambda=(?P<lambda>[0-9]+|\$LATEST); commit=(?P<commit>[0-9A-Za-z._+-]{1,64})")
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# The caching each kind of answer promises (chalicelib/responses.py): catalogue reads may be cached, never the rest.
CACHEABLE_CACHE_CONTROL = re.compile(r"public, max-age=[0-9]+")
UNCACHEABLE_CACHE_CONTROL = "no-store"
# Applied with fullmatch: with match, `$` would also accept a trailing newline.
WEAK_ETAG = re.compile(r'W/"[^"]*"')
HSTS = "Strict-Transport-Security"
DELTA_SECONDS = re.compile(r"[0-9]+")
# In this order: security-headers and time-budget look back over every answer before them.
CHECKS = (
    "health",
    "deep-health",
    "walk",
    "item",
    "not-found",
    "bad-request",
    "etag",
    "head",
    "security-headers",
    "content-type",
    "cache-control",
    "latency",
    "version",
    "time-budget",
)


class CheckFailed(Exception):
    """A check's verdict: what the stage answered that the contract does not allow."""


class BudgetExhausted(CheckFailed):
    def __init__(self, budget_seconds: float) -> None:
        super().__init__(f"time budget of {budget_seconds:g} s exhausted before this check's requests")


@dataclass
class Answer:
    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: bytes
    # The last attempt's time, and how many attempts the answer took (retries of transient failures).
    seconds: float = 0.0
    attempts: int = 1

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; anything else fails the check."""
        try:
            payload = json.loads(self.body)
        except ValueError as error:
            raise CheckFailed(f"{self} is not JSON: {self.body[:80]!r}") from error
        if not isinstance(payload, dict):
            raise CheckFailed(f"{self} is not a JSON object: {self.body[:80]!r}")
        return payload

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.status})"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect is an answer to check, not something to follow: the API never redirects.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Stage:
    """The stage under test: every request goes through here, against one deadline."""

    base_url: str
    budget_seconds: float
    request_timeout_seconds: float
    retries: int = DEFAULT_RETRIES
    started: float = field(default_factory=time.monotonic)
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._opener = urllib.request.build_opener(_NoRedirects)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def request(self, path: str, method: str = "GET", headers: Mapping[str, str] | None = None) -> Answer:
        """One answer, after up to `retries` more attempts while the failure is transient and the budget lasts."""
        attempt = 0
        while True:
            attempt += 1
            last_chance = attempt > self.retries
            try:
                answer = self._attempt(path, method, headers)
            except _NoConnection as failure:
                if last_chance or isinstance(failure.__cause__, TimeoutError) or not self._backoff(attempt):
                    raise CheckFailed(f"{method} {path}: no answer ({failure}) after {attempt} attempt(s)") from failure
                continue
            answer.attempts = attempt
            if answer.status in TRANSIENT_STATUSES and not last_chance and self._backoff(attempt):
                continue
            self.answers.append(answer)
            return answer

    def _backoff(self, attempt: int) -> bool:
        """Waits before the next attempt; False when the budget cannot cover the wait."""
        pause = RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)
        if self.elapsed() + pause >= self.budget_seconds:
            return False
        time.sleep(pause)
        return True

    def _attempt(self, path: str, method: str, headers: Mapping[str, str] | None) -> Answer:
        remaining = self.budget_seconds - self.elapsed()
        if remaining <= 0:
            raise BudgetExhausted(self.budget_seconds)
        request = urllib.request.Request(
            self.base_url + path, method=method, headers={"User-Agent": USER_AGENT, **(headers or {})}
        )
        sent = time.monotonic()
        try:
            with self._opener.open(request, timeout=min(self.request_timeout_seconds, remaining)) as response:
                status, raw_headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, raw_headers, body = error.code, error.headers, error.read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise _NoConnection(str(reason)) from (reason if isinstance(reason, BaseException) else error)
        seconds = time.monotonic() - sent
        return Answer(method, path, status, {key.lower(): value for key, value in raw_headers.items()}, body, seconds)


class _NoConnection(Exception):
    """No HTTP answer at all: refused, reset, unresolvable or timed out (the cause says which)."""


def _hsts_directives(value: str) -> dict[str, str] | None:
    """RFC 6797's directives by lower-cased name, quotes removed; None when a directive repeats (the header is void)."""
    directives: dict[str, str] = {}
    for part in value.split(";"):
        name, _, argument = part.strip().partition("=")
        name = name.strip().lower()
        if not name:
            continue
        if name in directives:
            return None
        directives[name] = argument.strip().strip('"')
    return directives


def hsts_keeps(expected: str, served: str | None) -> bool:
    """True when `served` is at least as strict as `expected`: as long a max-age, and every flag it sets.

    A CDN may add to the API's HSTS (CloudFront's response-headers policy adds `preload`),
    but must not weaken it.
    """
    wanted = _hsts_directives(expected)
    given = _hsts_directives(served) if served is not None else None
    if wanted is None or given is None:
        return False
    for name, argument in wanted.items():
        if name not in given:
            return False
        if name == "max-age" and not (DELTA_SECONDS.fullmatch(given[name]) and int(given[name]) >= int(argument)):
            return False
    return True


def header_as_expected(name: str, expected: str, served: str | None) -> bool:
    """Each security header as the API sends it; HSTS may be stricter, as a CDN in front makes it."""
    return hsts_keeps(expected, served) if name.lower() == HSTS.lower() else served == expected


def is_weak_etag(value: str | None) -> bool:
    return value is not None and WEAK_ETAG.fullmatch(value) is not None


def expect_status(answer: Answer, status: int) -> None:
    if answer.status != status:
        raise CheckFailed(f"{answer}: expected {status}; body {answer.body[:120]!r}")


def expect_error(answer: Answer, status: int, code: str) -> dict[str, Any]:
    expect_status(answer, status)
    payload = answer.json()
    error = payload.get("error")
    if not isinstance(error, dict) or error.get("code") != code:
        raise CheckFailed(f"{answer}: expected error code {code!r}, got {payload!r}")
    return error


def list_path(**parameters: str | int) -> str:
    return "/llms?" + urllib.parse.urlencode(parameters)


def item_path(model_name: str) -> str:
    return "/llms/" + urllib.parse.quote(model_name, safe="")


@dataclass
class Walk:
    names: list[str]
    pages: int
    scores: list[Any]


def walk(stage: Stage, **parameters: str | int) -> Walk:
    """Follows `next_token` from the first page to the last, checking each page's shape."""
    limit = int(parameters.get("limit", MAX_LIMIT))
    names: list[str] = []
    scores: list[Any] = []
    tokens: set[str] = set()
    token: str | None = None
    while True:
        query: dict[str, str | int] = {**parameters, **({"next_token": token} if token else {})}
        answer = stage.request(list_path(**query))
        expect_status(answer, 200)
        payload = answer.json()
        items = payload.get("items")
        if not isinstance(items, list) or payload.get("count") != len(items):
            raise CheckFailed(f"{answer}: expected {{items: [...], count: len(items)}}, got {str(payload)[:120]}")
        if len(items) > limit:
            raise CheckFailed(f"{answer}: {len(items)} items on a page of limit {limit}")
        names += [str(item.get("model_name")) for item in items]
        scores += [item.get("score") for item in items]
        token = payload.get("next_token")
        if not token:
            return Walk(names, len(tokens) + 1, scores)
        if not items or token in tokens:
            raise CheckFailed(f"{answer}: the walk does not end (an empty page, or a next_token seen before)")
        tokens.add(token)


def _duplicates(names: list[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


class Checks:
    """Each check returns a one-line detail or raises CheckFailed; later checks reuse what earlier ones found."""

    def __init__(
        self,
        stage: Stage,
        request_budget_seconds: float = DEFAULT_REQUEST_BUDGET_MILLISECONDS / 1000,
        expected_lambda_version: str | None = None,
        expected_commit: str | None = None,
    ) -> None:
        self.stage = stage
        self.model_name: str | None = None
        self.request_budget_seconds = request_budget_seconds
        self.expected_lambda_version = expected_lambda_version
        self.expected_commit = expected_commit

    def health(self) -> str:
        answer = self.stage.request("/health")
        expect_status(answer, 200)
        if answer.json() != {"status": "ok"}:
            raise CheckFailed(f"{answer}: expected {{'status': 'ok'}}, got {answer.body[:120]!r}")
        return '200 {"status":"ok"}'

    def deep_health(self) -> str:
        answer = self.stage.request("/health?deep=true")
        expect_status(answer, 200)
        payload = answer.json()
        checks = payload.get("checks")
        if payload.get("status") != "ok" or not isinstance(checks, dict) or checks.get("dynamodb") != "ok":
            raise CheckFailed(f"{answer}: expected status ok and checks.dynamodb ok, got {str(payload)[:120]}")
        return "200, dynamodb ok"

    def walk(self) -> str:
        reference = walk(self.stage, limit=MAX_LIMIT)
        if not reference.names:
            raise CheckFailed("GET /llms lists no items: is the table seeded?")
        if duplicates := _duplicates(reference.names):
            raise CheckFailed(f"with limit={MAX_LIMIT}, listed more than once: {', '.join(duplicates[:5])}")
        self.model_name = reference.names[0]
        # The hard ordering for keyset paging: scores tie, and a page boundary falls inside each run of ties.
        page_size = min(MAX_LIMIT, max(1, math.ceil(len(reference.names) / WALK_PAGES)))
        paged = walk(self.stage, sort="score", order="desc", limit=page_size)
        if duplicates := _duplicates(paged.names):
            raise CheckFailed(f"with limit={page_size}, on more than one page: {', '.join(duplicates[:5])}")
        missing = set(reference.names) - set(paged.names)
        extra = set(paged.names) - set(reference.names)
        if missing or extra:
            raise CheckFailed(
                f"with limit={page_size}, missing {sorted(missing)[:5]} and unexpected {sorted(extra)[:5]}"
            )
        if len(reference.names) > page_size and paged.pages < 2:
            raise CheckFailed(f"{len(paged.names)} items with limit={page_size} came back on one page")
        scored = [score for score in paged.scores if score is not None]
        if scored != sorted(scored, reverse=True) or paged.scores[: len(scored)] != scored:
            raise CheckFailed(f"sort=score&order=desc is out of order across pages of {page_size}")
        return f"{len(paged.names)} items over {paged.pages} pages of {page_size} (sort=score desc), each exactly once"

    def _model_name(self) -> str:
        if self.model_name is None:
            answer = self.stage.request(list_path(limit=1))
            expect_status(answer, 200)
            items = answer.json().get("items")
            if not isinstance(items, list) or not items or not isinstance(items[0], dict):
                raise CheckFailed(f"{answer}: no item to fetch")
            self.model_name = str(items[0].get("model_name"))
        return self.model_name

    def item(self) -> str:
        name = self._model_name()
        answer = self.stage.request(item_path(name))
        expect_status(answer, 200)
        payload = answer.json()
        if payload.get("model_name") != name:
            raise CheckFailed(f"{answer}: expected the item {name!r}, got {str(payload)[:120]}")
        return f"200 {name}"

    def not_found(self) -> str:
        answer = self.stage.request(item_path(f"smoke-no-such-model-{uuid.uuid4().hex}"))
        expect_error(answer, 404, "not_found")
        return "404 not_found"

    def bad_request(self) -> str:
        answer = self.stage.request(list_path(limit=0))
        error = expect_error(answer, 400, "invalid_parameter")
        if "limit" not in str(error.get("message")):
            raise CheckFailed(f"{answer}: the message does not name the parameter: {error.get('message')!r}")
        return "400 invalid_parameter for limit=0"

    def etag(self) -> str:
        for path in (list_path(limit=1), item_path(self._model_name())):
            first = self.stage.request(path)
            expect_status(first, 200)
            etag = first.header("ETag")
            if etag is None or not is_weak_etag(etag):
                raise CheckFailed(f'{first}: expected a weak ETag W/"…", got {etag!r}')
            again = self.stage.request(path, headers={"If-None-Match": etag})
            expect_status(again, 304)
            if again.body:
                raise CheckFailed(f"{again}: a 304 carries a body of {len(again.body)} bytes")
        return "weak ETags; If-None-Match answers 304 on /llms and /llms/{model_name}"

    def head(self) -> str:
        for path in ("/health", list_path(limit=1), item_path(self._model_name())):
            get = self.stage.request(path)
            head = self.stage.request(path, method="HEAD")
            if head.status != get.status:
                raise CheckFailed(f"{head}: GET answered {get.status}")
            if head.header("ETag") != get.header("ETag"):
                raise CheckFailed(f"{head}: ETag {head.header('ETag')!r}, GET's is {get.header('ETag')!r}")
        return "HEAD answers like GET on /health, /llms and /llms/{model_name}"

    def security_headers(self) -> str:
        answers = self.stage.answers
        if not answers:
            raise CheckFailed("no answers to check")
        problems = []
        for answer in answers:
            for name, value in EXPECTED_SECURITY_HEADERS.items():
                if not header_as_expected(name, value, answer.header(name)):
                    problems.append(f"{name}: {answer.header(name)!r} on {answer}")
        if problems:
            raise CheckFailed(f"{len(problems)} wrong or missing, e.g. " + "; ".join(problems[:3]))
        statuses = ", ".join(str(status) for status in sorted({answer.status for answer in answers}))
        return f"all {len(EXPECTED_SECURITY_HEADERS)} on each of {len(answers)} answers ({statuses})"

    def content_type(self) -> str:
        """Every answer with a body is JSON in UTF-8 (a HEAD or a 304 has none, and may leave the header out)."""
        answers = self._answers()
        wrong = [
            f"{answer.header('Content-Type')!r} on {answer}"
            for answer in answers
            if answer.body and answer.header("Content-Type") != JSON_CONTENT_TYPE
        ]
        if wrong:
            raise CheckFailed(f"{len(wrong)} not {JSON_CONTENT_TYPE}, e.g. " + "; ".join(wrong[:3]))
        return f"{JSON_CONTENT_TYPE} on each of {sum(1 for answer in answers if answer.body)} answers with a body"

    def cache_control(self) -> str:
        """Catalogue reads (200 and 304 on /llms...) may be cached publicly; health and every error, never."""
        wrong = []
        for answer in self._answers():
            served = answer.header("Cache-Control")
            cacheable = answer.path.startswith("/llms") and answer.status in (200, 304)
            allowed = (
                served is not None and CACHEABLE_CACHE_CONTROL.fullmatch(served) is not None
                if cacheable
                else served == UNCACHEABLE_CACHE_CONTROL
            )
            if not allowed:
                wrong.append(f"{served!r} on {answer}")
        if wrong:
            raise CheckFailed(f"{len(wrong)} wrong, e.g. " + "; ".join(wrong[:3]))
        return "public, max-age on catalogue reads; no-store on health and errors"

    def latency(self) -> str:
        answers = self._answers()
        budget = self.request_budget_seconds
        slow = sorted((answer for answer in answers if answer.seconds > budget), key=lambda a: -a.seconds)
        if slow:
            shown = "; ".join(f"{answer} {answer.seconds * 1000:.0f} ms" for answer in slow[:3])
            raise CheckFailed(f"{len(slow)} over {budget * 1000:.0f} ms, e.g. {shown}")
        slowest = max(answers, key=lambda answer: answer.seconds)
        retried = sum(1 for answer in answers if answer.attempts > 1)
        return (
            f"each under {budget * 1000:.0f} ms (slowest {slowest.seconds * 1000:.0f} ms, {slowest}); "
            f"{retried} answer(s) needed a retry"
        )

    def version(self) -> str:
        """Every answer names one version, in the app's format; the one expected, when the caller says which."""
        served = set()
        for answer in self._answers():
            value = answer.header(VERSION_HEADER)
            match = VERSION_FORMAT.fullmatch(value or "")
            if match is None:
                raise CheckFailed(f"{answer}: {VERSION_HEADER} {value!r} is not `lambda=N; commit=SHA`")
            served.add((match["lambda"], match["commit"]))
        if len(served) > 1:
            raise CheckFailed(f"answers came from {len(served)} versions: {sorted(served)}")
        ((lambda_version, commit),) = served
        if self.expected_lambda_version is not None and lambda_version != self.expected_lambda_version:
            raise CheckFailed(f"lambda={lambda_version} answered, expected lambda={self.expected_lambda_version}")
        if self.expected_commit is not None and commit != self.expected_commit:
            raise CheckFailed(f"commit={commit} answered, expected commit={self.expected_commit}")
        return f"every answer from lambda={lambda_version}; commit={commit}"

    def _answers(self) -> list[Answer]:
        if not self.stage.answers:
            raise CheckFailed("no answers to check")
        return self.stage.answers

    def time_budget(self) -> str:
        elapsed = self.stage.elapsed()
        if elapsed > self.stage.budget_seconds:
            raise CheckFailed(f"{elapsed:.2f} s, over the budget of {self.stage.budget_seconds:g} s")
        return f"{elapsed:.2f} s of {self.stage.budget_seconds:g} s"


def run(
    base_url: str,
    budget_seconds: float,
    request_timeout_seconds: float,
    out: Any = sys.stdout,
    *,
    request_budget_seconds: float = DEFAULT_REQUEST_BUDGET_MILLISECONDS / 1000,
    retries: int = DEFAULT_RETRIES,
    expected_lambda_version: str | None = None,
    expected_commit: str | None = None,
) -> bool:
    """Runs every check, printing one line each; True when all pass."""
    stage = Stage(base_url.rstrip("/"), budget_seconds, request_timeout_seconds, retries)
    checks = Checks(stage, request_budget_seconds, expected_lambda_version, expected_commit)
    passed = True
    for name in CHECKS:
        try:
            detail: str = getattr(checks, name.replace("-", "_"))()
        except CheckFailed as failure:
            passed = False
            print(f"FAIL {name}: {failure}", file=out, flush=True)
        else:
            print(f"PASS {name}: {detail}", file=out, flush=True)
    return passed


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("url", help="the stage's base URL, e.g. https://<id>.execute-api.<region>.amazonaws.com/api")
    parser.add_argument("--budget-seconds", type=float, default=DEFAULT_BUDGET_SECONDS, help="the whole run's limit")
    parser.add_argument(
        "--request-timeout", type=float, default=DEFAULT_REQUEST_TIMEOUT_SECONDS, help="each request's limit"
    )
    parser.add_argument(
        "--request-budget-ms",
        type=float,
        default=DEFAULT_REQUEST_BUDGET_MILLISECONDS,
        help="each answer's latency limit, in ms (the latency check)",
    )
    parser.add_argument(
        "--retries", type=int, default=DEFAULT_RETRIES, help="extra attempts for a transient failure (default 2)"
    )
    parser.add_argument("--expect-lambda-version", help="the Lambda version every answer must name (e.g. 42)")
    parser.add_argument("--expect-commit", help="the commit every answer must name")
    arguments = parser.parse_args(argv)
    if arguments.retries < 0:
        parser.error("--retries must be 0 or more")
    scheme = urllib.parse.urlsplit(arguments.url).scheme
    if scheme not in ("http", "https") or not urllib.parse.urlsplit(arguments.url).netloc:
        parser.error(f"not an http(s) URL: {arguments.url!r}")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    passed = run(
        arguments.url,
        arguments.budget_seconds,
        arguments.request_timeout,
        request_budget_seconds=arguments.request_budget_ms / 1000,
        retries=arguments.retries,
        expected_lambda_version=arguments.expect_lambda_version,
        expected_commit=arguments.expect_commit,
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
