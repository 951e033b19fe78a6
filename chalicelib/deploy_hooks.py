"""CodeDeploy lifecycle hooks for the `live` alias: check the new version before and after it takes traffic.

CodeDeploy invokes each hook function with `DeploymentId` and `LifecycleEventHookExecutionId` and waits for
`PutLifecycleEventHookExecutionStatus`. A `Failed` (or no answer within the hook's hour) fails the deployment,
and the deployment group's automatic rollback moves `live` back. So a hook reports exactly once, `Succeeded`
or `Failed`, whatever its checks do: they run on a worker thread against a deadline a margin short of the
function's own timeout, and an exception or a check still running at the deadline reports `Failed`.

- BeforeAllowTraffic invokes the target version directly (no traffic reaches it yet): the contract's checks on
  proxy-event answers (each naming that version in `X-Api-Version`), then warm-up pings that start as many
  containers as the live alias's recent peak concurrency needs (`prewarm_count`).
- AfterAllowTraffic checks the public URL: `/health` answers 200 from the target version.

These checks are written on Lambda's proxy answers, not shared with scripts/operations/smoke.py, which stays
standard-library only and checks HTTP answers end to end; both read the same header format
(chalicelib/version.py, held equal to smoke's copy by tests/unit/test_smoke_version.py).
"""

from __future__ import annotations

import functools
import json
import math
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.observability import logger
from chalicelib.version import VERSION_HEADER, parse_version
from chalicelib.warmup import WARMUP_EVENT_KEY

SUCCEEDED = "Succeeded"
FAILED = "Failed"
# Left of the function's timeout for the report itself: one CodeDeploy call, with botocore's retries.
REPORT_MARGIN_SECONDS = 8.0
# Each warm-up ping holds its container this long, so parallel pings land on distinct containers.
PREWARM_HOLD_MILLISECONDS = 100
# How far back the live alias's peak concurrency is read, and the headroom on it.
CONCURRENCY_LOOKBACK_MINUTES = 30
PREWARM_HEADROOM = 1.25
# The widest warm-up the hook fans out, and so its Lambda client's connection pool: parallel pings never queue.
PREWARM_CEILING = 64
AFTER_TRAFFIC_ATTEMPTS = 3
AFTER_TRAFFIC_RETRY_SECONDS = 2.0
JSON_CONTENT_TYPE = "application/json"


class CheckFailed(Exception):
    """What the new version answered that the contract does not allow."""


@dataclass(frozen=True)
class HookClients:
    codedeploy: Any
    lambda_: Any
    cloudwatch: Any


@dataclass(frozen=True)
class Shift:
    """What the deployment moves: from the AppSpec CodeDeploy holds for it."""

    function_name: str
    alias: str
    current_version: str
    target_version: str


@dataclass(frozen=True)
class PrewarmLimits:
    minimum: int
    maximum: int


@functools.lru_cache(maxsize=1)
def default_clients() -> HookClients:
    # Imported here: only the hook functions need these clients, not the API's cold start.
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    config = Config(
        connect_timeout=2,
        read_timeout=30,
        retries={"mode": "standard", "total_max_attempts": 3},
        max_pool_connections=PREWARM_CEILING,
    )
    return HookClients(
        codedeploy=session.create_client("codedeploy", config=config),
        lambda_=session.create_client("lambda", config=config),
        cloudwatch=session.create_client("cloudwatch", config=config),
    )


# ---- reporting, whatever the checks do ------------------------------------------------------------------------


def run_hook(
    event: Mapping[str, Any],
    context: Any,
    checks: Callable[[str], str],
    clients: HookClients,
    margin_seconds: float = REPORT_MARGIN_SECONDS,
) -> dict[str, str]:
    """Runs `checks(deployment_id)` and reports its verdict to CodeDeploy before the function's timeout.

    `checks` returns a one-line detail or raises; a check still running `margin_seconds` before the timeout
    counts as failed (its thread is left behind: the report must not wait for it).
    """
    deployment_id = str(event.get("DeploymentId", ""))
    execution_id = str(event.get("LifecycleEventHookExecutionId", ""))
    if not deployment_id or not execution_id:
        # Nothing to report to: only a hand-made invoke gets here, and raising shows it in the invoke's answer.
        raise ValueError("not a CodeDeploy lifecycle event: DeploymentId and LifecycleEventHookExecutionId needed")
    allowed_seconds = max(context.get_remaining_time_in_millis() / 1000 - margin_seconds, 0.0)
    outcome: dict[str, str] = {}
    finished = threading.Event()

    def run() -> None:
        try:
            outcome["detail"] = checks(deployment_id)
            outcome["status"] = SUCCEEDED
        except Exception as error:  # any failure of a check fails the hook, and so the deployment
            outcome["detail"] = f"{type(error).__name__}: {error}"[:500]
            outcome["status"] = FAILED
        finally:
            finished.set()

    threading.Thread(target=run, name="deploy-hook-checks", daemon=True).start()
    if not finished.wait(allowed_seconds):
        outcome = {"status": FAILED, "detail": f"checks still running after {allowed_seconds:.1f} s"}
    status, detail = outcome["status"], outcome["detail"]
    log = logger.info if status == SUCCEEDED else logger.error
    log("deployment hook", extra={"deployment_id": deployment_id, "status": status, "detail": detail})
    clients.codedeploy.put_lifecycle_event_hook_execution_status(
        deploymentId=deployment_id, lifecycleEventHookExecutionId=execution_id, status=status
    )
    return {"status": status, "detail": detail}


def read_shift(codedeploy: Any, deployment_id: str) -> Shift:
    """The function, alias and versions of the deployment's AppSpec (scripts/operations/deploy.py writes it)."""
    info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    content = info.get("revision", {}).get("appSpecContent", {}).get("content")
    if not content:
        raise CheckFailed(f"deployment {deployment_id} carries no inline AppSpec")
    appspec = json.loads(content)
    ((_, resource),) = appspec["Resources"][0].items()
    properties = resource["Properties"]
    return Shift(
        function_name=str(properties["Name"]),
        alias=str(properties["Alias"]),
        current_version=str(properties["CurrentVersion"]),
        target_version=str(properties["TargetVersion"]),
    )


# ---- BeforeAllowTraffic: the contract on the target version, then warm it ---------------------------------------


def proxy_event(path: str, query: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A REST proxy GET as API Gateway sends it: Chalice routes on requestContext.resourcePath."""
    if path.startswith("/llms/"):
        # `path` is as a client sends it (percent-encoded); API Gateway hands the parameter over decoded.
        resource, path_parameters = "/llms/{model_name}", {"model_name": urllib.parse.unquote(path[len("/llms/") :])}
    else:
        resource, path_parameters = path, None
    request_id = f"deploy-hook-{uuid.uuid4()}"
    headers = {"Host": "deploy-hook.invalid", "User-Agent": "llm-scores-deploy-hook/1"}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {name: [value] for name, value in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "GET",
            "path": "/api" + path,
            "requestId": request_id,
            "stage": "api",
            "identity": {"sourceIp": "127.0.0.1"},
        },
    }


@dataclass(frozen=True)
class ProxyAnswer:
    path: str
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> dict[str, Any]:
        try:
            payload = json.loads(self.body)
        except ValueError as error:
            raise CheckFailed(f"{self.path}: body is not JSON: {self.body[:80]!r}") from error
        if not isinstance(payload, dict):
            raise CheckFailed(f"{self.path}: body is not a JSON object")
        return payload


def invoke_json(lambda_client: Any, function_name: str, version: str, payload: Mapping[str, Any]) -> Any:
    """Invokes one version synchronously; a function error (the handler raised) fails the check."""
    response = lambda_client.invoke(
        FunctionName=function_name,
        Qualifier=version,
        InvocationType="RequestResponse",
        Payload=json.dumps(payload).encode(),
    )
    body = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        message = body.get("errorMessage") if isinstance(body, dict) else None
        raise CheckFailed(f"version {version} raised {response['FunctionError']}: {message or 'no message'}")
    return body


def ask(lambda_client: Any, shift: Shift, path: str, query: Mapping[str, str] | None = None) -> ProxyAnswer:
    answer = invoke_json(lambda_client, shift.function_name, shift.target_version, proxy_event(path, query))
    if not isinstance(answer, dict) or not isinstance(answer.get("statusCode"), int):
        raise CheckFailed(f"{path}: not a proxy answer: {str(answer)[:120]}")
    headers = {str(name).lower(): str(value) for name, value in (answer.get("headers") or {}).items()}
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        headers.setdefault(str(name).lower(), ", ".join(str(value) for value in values))
    shown = path + ("?" + urllib.parse.urlencode(query) if query else "")
    return ProxyAnswer(shown, answer["statusCode"], headers, str(answer.get("body") or ""))


def expect_answer(answer: ProxyAnswer, status: int, cache_control: str, version: str) -> None:
    """Status, JSON content type, the caching the contract gives the route, and the version that answered."""
    if answer.status != status:
        raise CheckFailed(f"{answer.path}: expected {status}, got {answer.status}: {answer.body[:120]!r}")
    content_type = answer.headers.get("content-type", "")
    if not content_type.startswith(JSON_CONTENT_TYPE):
        raise CheckFailed(f"{answer.path}: Content-Type {content_type!r}, expected {JSON_CONTENT_TYPE}")
    served_cache_control = answer.headers.get("cache-control", "")
    if not served_cache_control.startswith(cache_control):
        raise CheckFailed(f"{answer.path}: Cache-Control {served_cache_control!r}, expected {cache_control}…")
    served = parse_version(answer.headers.get(VERSION_HEADER.lower()))
    if served is None or served["lambda"] != version:
        raise CheckFailed(
            f"{answer.path}: {VERSION_HEADER} {answer.headers.get(VERSION_HEADER.lower())!r}, expected lambda={version}"
        )


def contract_checks(lambda_client: Any, shift: Shift) -> str:
    """The smoke test's core on the target version: health, deep health, a page, an item, a 404."""
    version = shift.target_version
    expect_answer(ask(lambda_client, shift, "/health"), 200, "no-store", version)
    deep = ask(lambda_client, shift, "/health", {"deep": "true"})
    expect_answer(deep, 200, "no-store", version)
    if deep.json().get("status") != "ok":
        raise CheckFailed(f"{deep.path}: {deep.body[:120]!r}")
    page = ask(lambda_client, shift, "/llms", {"limit": "1"})
    expect_answer(page, 200, "public, max-age=", version)
    items = page.json().get("items")
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        raise CheckFailed(f"{page.path}: no items: is the table seeded?")
    name = str(items[0].get("model_name"))
    item = ask(lambda_client, shift, "/llms/" + urllib.parse.quote(name, safe=""))
    expect_answer(item, 200, "public, max-age=", version)
    if item.json().get("model_name") != name:
        raise CheckFailed(f"{item.path}: answered another item: {item.body[:120]!r}")
    missing = ask(lambda_client, shift, f"/llms/deploy-hook-no-such-model-{uuid.uuid4().hex}")
    expect_answer(missing, 404, "no-store", version)
    if missing.json().get("error", {}).get("code") != "not_found":
        raise CheckFailed(f"{missing.path}: expected error code not_found: {missing.body[:120]!r}")
    return f"contract checks passed on version {version} (5 answers)"


def peak_concurrency(cloudwatch: Any, shift: Shift, now: datetime | None = None) -> float | None:
    """The live alias's highest ConcurrentExecutions per minute over the lookback; None when CloudWatch has none."""
    end = now or datetime.now(UTC)
    response = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="ConcurrentExecutions",
        Dimensions=[
            {"Name": "FunctionName", "Value": shift.function_name},
            {"Name": "Resource", "Value": f"{shift.function_name}:{shift.alias}"},
        ],
        StartTime=end - timedelta(minutes=CONCURRENCY_LOOKBACK_MINUTES),
        EndTime=end,
        Period=60,
        Statistics=["Maximum"],
    )
    points = [float(point["Maximum"]) for point in response.get("Datapoints", [])]
    return max(points) if points else None


def prewarm_count(peak: float | None, limits: PrewarmLimits) -> int:
    """Containers to start: the live alias's recent peak with 25% headroom, never below the floor nor above the cap.

    Sized for all of live's traffic, not the canary's tenth: the rest arrives when the canary ends, minutes
    later, while these containers are still warm. The floor is what the warm-up schedule keeps warm anyway,
    and the cap keeps the hook from spending the function's reserved concurrency on warming.
    """
    wanted = math.ceil(peak * PREWARM_HEADROOM) if peak is not None else 0
    return max(limits.minimum, min(wanted, limits.maximum))


def prewarm(lambda_client: Any, shift: Shift, count: int) -> dict[str, int]:
    """`count` concurrent warm-up pings at the target version; every ping must answer, or the check fails."""
    payload = {WARMUP_EVENT_KEY: {"hold_milliseconds": PREWARM_HOLD_MILLISECONDS}}

    def ping(_: int) -> Any:
        return invoke_json(lambda_client, shift.function_name, shift.target_version, payload)

    with ThreadPoolExecutor(max_workers=max(count, 1)) as pool:
        answers = list(pool.map(ping, range(count)))
    containers = {answer.get("container_id") for answer in answers if isinstance(answer, dict)}
    if count and (None in containers or not containers):
        raise CheckFailed(f"a warm-up ping to version {shift.target_version} answered no container_id")
    return {"requested": count, "distinct_containers": len(containers)}


def prewarm_limits(environment: Mapping[str, str]) -> PrewarmLimits:
    minimum = int(environment.get("PREWARM_MINIMUM", environment.get("WARMUP_CONCURRENCY", "1")))
    maximum = int(environment.get("PREWARM_MAXIMUM", "10"))
    if not 0 <= minimum <= maximum <= PREWARM_CEILING:
        raise ValueError(f"need 0 <= PREWARM_MINIMUM ({minimum}) <= PREWARM_MAXIMUM ({maximum}) <= {PREWARM_CEILING}")
    return PrewarmLimits(minimum, maximum)


def before_allow_traffic_checks(clients: HookClients, limits: PrewarmLimits) -> Callable[[str], str]:
    def checks(deployment_id: str) -> str:
        shift = read_shift(clients.codedeploy, deployment_id)
        detail = contract_checks(clients.lambda_, shift)
        try:
            peak = peak_concurrency(clients.cloudwatch, shift)
        except Exception as error:  # no metric is no reason to refuse a good version: warm the floor
            logger.warning("peak concurrency unreadable; warming the floor", extra={"error": str(error)[:200]})
            peak = None
        warmed = prewarm(clients.lambda_, shift, prewarm_count(peak, limits))
        return (
            f"{detail}; warmed {warmed['distinct_containers']} containers "
            f"({warmed['requested']} pings; live's peak {peak if peak is not None else 'unknown'})"
        )

    return checks


def before_allow_traffic(event: Mapping[str, Any], context: Any, clients: HookClients | None = None) -> dict[str, str]:
    """The BeforeAllowTraffic hook: `live` still serves the old version while this checks and warms the new."""
    clients = clients or default_clients()
    return run_hook(event, context, before_allow_traffic_checks(clients, prewarm_limits(os.environ)), clients)


# ---- AfterAllowTraffic: the public URL answers from the new version --------------------------------------------


def fetch(url: str, timeout_seconds: float) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"User-Agent": "llm-scores-deploy-hook/1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def public_url_checks(
    clients: HookClients,
    base_url: str,
    fetcher: Callable[[str, float], tuple[int, dict[str, str], bytes]] = fetch,
    sleep: Callable[[float], None] = time.sleep,
) -> Callable[[str], str]:
    def checks(deployment_id: str) -> str:
        if not base_url.startswith(("https://", "http://")):
            raise CheckFailed(f"PUBLIC_BASE_URL is not an http(s) URL: {base_url!r}")
        shift = read_shift(clients.codedeploy, deployment_id)
        url = base_url.rstrip("/") + "/health"
        problem = ""
        # A few tries: an alias update reaches every API Gateway node within seconds, not at once.
        for attempt in range(AFTER_TRAFFIC_ATTEMPTS):
            if attempt:
                sleep(AFTER_TRAFFIC_RETRY_SECONDS)
            try:
                status, headers, body = fetcher(url, 5.0)
            except (urllib.error.URLError, OSError) as error:
                problem = f"no answer from {url}: {error}"
                continue
            served = parse_version(headers.get(VERSION_HEADER.lower()))
            healthy = status == 200 and body.strip() in (b'{"status":"ok"}', b'{"status": "ok"}')
            if healthy and served is not None and served["lambda"] == shift.target_version:
                return f"{url} answered 200 from version {shift.target_version}"
            problem = f"{url} answered {status} with {VERSION_HEADER} {headers.get(VERSION_HEADER.lower())!r}"
        raise CheckFailed(f"{problem} (expected 200 from lambda={shift.target_version})")

    return checks


def after_allow_traffic(event: Mapping[str, Any], context: Any, clients: HookClients | None = None) -> dict[str, str]:
    """The AfterAllowTraffic hook: all of `live`'s traffic now goes to the new version; the public URL shows it."""
    clients = clients or default_clients()
    return run_hook(event, context, public_url_checks(clients, os.environ.get("PUBLIC_BASE_URL", "")), clients)
