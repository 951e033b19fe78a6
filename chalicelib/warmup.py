"""Keeping API containers warm: the scheduled invoker, the app that recognises its pings, and the answer.

Chalice deploys each `@app.schedule` as its own Lambda function, so warming that
function warms nothing. The warmer instead invokes the API function directly, N
times at once, with a payload API Gateway can never produce (it has no
`requestContext`); each ping holds briefly so the calls land on distinct containers.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalice.app import Chalice, Response

from chalicelib.cache import DataUnavailable
from chalicelib.config import Settings
from chalicelib.observability import log_event, logger, take_cold_start
from chalicelib.service import ScoresService

WARMUP_EVENT_KEY = "llm_scores_warmup"
# The schedule of the warm-up function (app.py), and how late EventBridge may deliver a scheduled event.
WARMUP_INTERVAL_MINUTES = 5
WARMUP_LATENESS_SECONDS = 60
# A ping refreshes any snapshot that would expire before the next ping can arrive.
PING_FRESHNESS_SECONDS = WARMUP_INTERVAL_MINUTES * 60 + WARMUP_LATENESS_SECONDS
# Well under the function's timeout, whatever a ping asks for.
MAX_HOLD_MILLISECONDS = 5_000


def unknown_request() -> dict[str, Any]:
    """What Chalice answers an event it cannot route, so every event that is not HTTP gets the same answer."""
    return Response(body={"Code": "InternalServerError", "Message": "Unknown request."}, status_code=500).to_dict()


def is_warmup_event(event: Any) -> bool:
    return isinstance(event, dict) and WARMUP_EVENT_KEY in event and "requestContext" not in event


def ping_hold_milliseconds(event: dict[str, Any]) -> int:
    """How long a ping asks to hold its container, clamped to 0-5,000 ms; 0, with a warning, when unreadable.

    A ping with a bad hold is still a ping: the refresh it asks for is the part that matters.
    """
    options = event[WARMUP_EVENT_KEY]
    if not isinstance(options, dict):
        logger.warning(
            "warm-up ping options are not an object; holding 0 ms", extra={"options_type": type(options).__name__}
        )
        return 0
    hold = options.get("hold_milliseconds", 0)
    if isinstance(hold, bool) or not isinstance(hold, (int, float)) or not math.isfinite(hold):
        # repr of a number the client sent, or only the type of anything else: never a whole value of any size.
        shown = repr(hold) if isinstance(hold, float) else type(hold).__name__
        logger.warning("warm-up ping hold_milliseconds is not a finite number; holding 0 ms", extra={"hold": shown})
        return 0
    return int(min(max(hold, 0), MAX_HOLD_MILLISECONDS))


class WarmableChalice(Chalice):
    """A Chalice app whose Lambda handler also answers warm-up pings, which are not HTTP events."""

    def __init__(self, app_name: str, on_warmup: Callable[[int], dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(app_name=app_name, **kwargs)
        self._on_warmup = on_warmup

    def __call__(self, event: Any, context: Any) -> Any:
        if is_warmup_event(event):
            return self._on_warmup(ping_hold_milliseconds(event))
        if not isinstance(event, dict) or not isinstance(event.get("requestContext", {}), dict):
            # Chalice reads event.get("requestContext", {}).get(...) before any middleware or error handler runs,
            # so anything else raises there. A direct invoke can send any JSON: answer it as Chalice answers
            # any other event it cannot route.
            logger.warning(
                "event that is not an HTTP request reached the API handler", extra={"event_type": type(event).__name__}
            )
            return unknown_request()
        return super().__call__(event, context)


def answer_ping(service: ScoresService, hold_milliseconds: int) -> dict[str, Any]:
    """The API side of a ping: refresh ahead of the next ping, then hold so parallel pings reach distinct containers."""
    cold_start = take_cold_start()
    try:
        read = service.cache.read(fresh_for_at_least=PING_FRESHNESS_SECONDS)
        state, items, refresh = read.state, len(read.snapshot), read.refresh
    except DataUnavailable as error:
        state, items, refresh = "UNAVAILABLE", 0, error.refresh
    time.sleep(hold_milliseconds / 1000)
    report = {"container_id": service.container_id, "cold_start": cold_start, "cache": state, "items": items}
    log_event("warm-up ping", dict(report), {"WarmupPings": 1, **({"ColdStart": 1} if cold_start else {})}, refresh)
    return report


@functools.lru_cache(maxsize=1)
def _lambda_client(read_timeout_seconds: float) -> Any:
    # Created on first use: only the warm-up function needs it, not the API's cold start.
    import botocore.session
    from botocore.config import Config

    return botocore.session.get_session().create_client(
        "lambda",
        config=Config(
            connect_timeout=2,
            read_timeout=read_timeout_seconds,
            retries={"mode": "standard", "total_max_attempts": 2},
        ),
    )


def _invoke_once(client: Any, settings: Settings, payload: bytes) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "FunctionName": settings.api_function_name,
        "InvocationType": "RequestResponse",
        "Payload": payload,
    }
    if settings.api_function_qualifier:
        arguments["Qualifier"] = settings.api_function_qualifier
    response = client.invoke(**arguments)
    body = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        message = body.get("errorMessage") if isinstance(body, dict) else None
        raise RuntimeError(f"{response['FunctionError']}: {message or 'no message'}")
    if not isinstance(body, dict) or "container_id" not in body:
        raise RuntimeError("answer is not a warm-up report")
    return body


def warm_api(settings: Settings, client: Any | None = None) -> dict[str, Any]:
    """Invokes the API function `warmup_concurrency` times at once; reports containers reached and failures.

    Never raises: a failed ping is counted, logged and alarmed on, not retried into a storm.
    """
    concurrency = settings.warmup_concurrency
    if concurrency == 0:
        report: dict[str, Any] = {"requested": 0, "succeeded": 0, "failed": 0, "distinct_containers": 0}
        log_event("warm-up", report, {"WarmupInvocations": 0})
        return report
    if client is None:
        client = _lambda_client(
            settings.warmup_hold_milliseconds / 1000 + settings.dynamodb_read_timeout_seconds * 4 + 5
        )
    payload = json.dumps({WARMUP_EVENT_KEY: {"hold_milliseconds": settings.warmup_hold_milliseconds}}).encode()

    def attempt(_: int) -> dict[str, Any] | str:
        try:
            return _invoke_once(client, settings, payload)
        except Exception as error:  # any failure is one failed ping, never a crashed warmer
            return f"{type(error).__name__}: {error}"[:300]

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        outcomes = list(pool.map(attempt, range(concurrency)))
    answers = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    errors = [outcome for outcome in outcomes if isinstance(outcome, str)]
    report = {
        "function": settings.api_function_name,
        "requested": concurrency,
        "succeeded": len(answers),
        "failed": len(errors),
        "distinct_containers": len({answer["container_id"] for answer in answers}),
        "cold_starts": sum(1 for answer in answers if answer.get("cold_start")),
        "errors": errors[:5],
    }
    log_event(
        "warm-up",
        dict(report),
        {
            "WarmupInvocations": concurrency,
            "WarmupFailures": len(errors),
            "WarmupContainers": report["distinct_containers"],
        },
    )
    return report
