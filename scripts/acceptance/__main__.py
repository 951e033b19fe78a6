"""`make acceptance STAGE=dev`: every promise only a real AWS account can answer, checked against one stage.

    python -m scripts.acceptance --stage dev [--api-url URL] [--alarm-drill] [--rollback-drill ...]

Read-only unless a drill flag is given. Writes build/acceptance-STAGE/report.{json,md}, also when a check fails
or the run is interrupted (Ctrl-C, SIGTERM): the interrupted check's clean-up runs first. Exit 0 when no check
failed, 1 when one did, 130 when interrupted, 2 on bad arguments. docs/acceptance.md says how to read it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scripts.acceptance.checks import CHECKS
from scripts.acceptance.drills import ALARM_DRILL_FLAG, DRILLS, ROLLBACK_DRILL_FLAG
from scripts.acceptance.framework import (
    ROOT,
    Check,
    Interrupted,
    Outcome,
    Result,
    Stage,
    load_stage_settings,
    run_checks,
)
from scripts.acceptance.promises import write_docs
from scripts.acceptance.report import build_report, current_commit, render_markdown

ALL_CHECKS: tuple[Check, ...] = CHECKS + DRILLS
EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
LOCAL_API_URL = "http://127.0.0.1:{port}"
LOCAL_DYNAMODB_URL = "http://127.0.0.1:{port}"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stage", default="dev", help="the stage to check (local: make run's stack)")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    parser.add_argument("--api-url", help="the stage's EndpointURL (local: http://127.0.0.1:$PORT)")
    parser.add_argument("--aws-endpoint-url", help="send every AWS call here (tests: moto's server)")
    parser.add_argument("--export-dir", type=Path, help="the stage's initialised Terraform (build/terraform-STAGE)")
    parser.add_argument("--deploy-role-arn", help="the stage's GitHub deploy role, for its trust and permissions")
    parser.add_argument("--github-repository", help="owner/name the deploy role must trust")
    parser.add_argument("--github-environment", help="GitHub environment the role must trust (default: by stage)")
    parser.add_argument("--account-environment", help="the bootstrap's account_environment (default: by stage)")
    parser.add_argument("--check-github", action="store_true", help="also check action pins against github.com")
    parser.add_argument(f"--{ALARM_DRILL_FLAG}", action="store_true", help="drill: fire the page alarm, then restore")
    parser.add_argument(f"--{ROLLBACK_DRILL_FLAG}", action="store_true", help="drill: deploy a failing version")
    parser.add_argument("--rollback-drill-version", help="the published version built to fail the pre-traffic check")
    parser.add_argument("--wait-seconds", type=float, default=600, help="how long a drill waits for AWS (600)")
    parser.add_argument("--only", help="comma-separated check names to run")
    parser.add_argument("--out", type=Path, help="report directory (default build/acceptance-STAGE)")
    parser.add_argument("--write-docs", action="store_true", help="regenerate docs/acceptance.md's promise table")
    return parser.parse_args(argv)


def local_defaults(arguments: argparse.Namespace) -> Callable[[str], Any]:
    """make run's stack: the API on $PORT and moto's DynamoDB on $DYNAMODB_PORT, with moto's dummy credentials."""
    import boto3

    arguments.api_url = arguments.api_url or LOCAL_API_URL.format(port=os.environ.get("PORT", "8000"))
    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or LOCAL_DYNAMODB_URL.format(
        port=os.environ.get("DYNAMODB_PORT", "8001")
    )
    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        region_name=arguments.region,
    )
    return lambda service: session.client(service, endpoint_url=endpoint)


def selected_checks(only: str | None) -> list[Check]:
    if not only:
        return list(ALL_CHECKS)
    names = [name.strip() for name in only.split(",") if name.strip()]
    known = {check.name: check for check in ALL_CHECKS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown check(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[name] for name in names]


def print_result(check: Check, result: Result) -> None:
    line = f"{result.status.value.upper():4} {check.name}: {result.reason}"
    if result.status.value == "fail":
        line += f"  (read {check.doc})"
    print(line, flush=True)


def main(argv: Sequence[str] | None = None, client_factory: Callable[[str], Any] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.write_docs:
        changed = write_docs({check.name: check.doc for check in ALL_CHECKS})
        print("docs/acceptance.md " + ("updated" if changed else "already up to date"))
        return EXIT_PASSED
    arguments.region = arguments.region or "us-east-1"
    if arguments.stage == "local" and client_factory is None and arguments.aws_endpoint_url is None:
        client_factory = local_defaults(arguments)
    drills = frozenset(
        flag
        for flag, wanted in ((ALARM_DRILL_FLAG, arguments.alarm_drill), (ROLLBACK_DRILL_FLAG, arguments.rollback_drill))
        if wanted
    )
    stage = Stage(
        name=arguments.stage,
        region=arguments.region,
        settings=load_stage_settings(arguments.stage),
        api_url=arguments.api_url,
        aws_endpoint_url=arguments.aws_endpoint_url,
        export_dir=arguments.export_dir,
        deploy_role_arn=arguments.deploy_role_arn,
        github_repository=arguments.github_repository,
        github_environment=arguments.github_environment,
        account_environment=arguments.account_environment,
        check_github=arguments.check_github,
        drill_version=arguments.rollback_drill_version,
        drills=drills,
        wait_seconds=arguments.wait_seconds,
        client_factory=client_factory,
    )
    started = datetime.now(UTC)
    interrupted = False
    print(f"acceptance of stage {stage.name} ({stage.region}); drills: {', '.join(sorted(drills)) or 'none'}")
    try:
        outcomes: list[Outcome] = run_checks(selected_checks(arguments.only), stage, print_result)
    except Interrupted as interruption:
        interrupted, outcomes = True, interruption.outcomes
        print("interrupted: the running check's clean-up ran; the rest were not run", file=sys.stderr)
    report = build_report(
        stage=stage.name,
        region=stage.region,
        commit=current_commit(),
        started=started,
        finished=datetime.now(UTC),
        drills=sorted(drills),
        interrupted=interrupted,
        outcomes=outcomes,
    )
    out = arguments.out or ROOT / "build" / f"acceptance-{stage.name}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(render_markdown(report))
    summary = report["summary"]
    print(f"{summary['pass']} passed, {summary['fail']} failed, {summary['skip']} skipped; report: {out}/report.md")
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if summary["fail"] else EXIT_PASSED


if __name__ == "__main__":
    sys.exit(main())
