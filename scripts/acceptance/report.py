"""The run's report, as JSON (held to report.schema.json) and as Markdown for a change ticket."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from scripts.acceptance.framework import ROOT, Outcome, Status
from scripts.acceptance.promises import PROMISES

SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
STATUS_MARK = {Status.PASS: "PASS", Status.FAIL: "FAIL", Status.SKIP: "skip"}


@dataclass(frozen=True)
class Commit:
    sha: str
    dirty: bool


def current_commit(root: Path = ROOT) -> Commit:
    """HEAD and whether the checkout has uncommitted changes; `unknown` outside a git checkout."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return Commit("unknown", False)
    return Commit(sha.stdout.strip(), bool(status.stdout.strip()))


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_report(
    *,
    stage: str,
    region: str,
    commit: Commit,
    started: datetime,
    finished: datetime,
    drills: Sequence[str],
    interrupted: bool,
    outcomes: Sequence[Outcome],
) -> dict[str, Any]:
    checks = [
        {
            "name": outcome.check.name,
            "promise": outcome.check.promise,
            "status": outcome.result.status.value,
            "reason": outcome.result.reason,
            "doc": outcome.check.doc,
            "apis": list(outcome.check.apis),
            "drill": outcome.check.drill_flag,
            "seconds": outcome.result.seconds,
            "cleanup_errors": list(outcome.result.cleanup_errors),
        }
        for outcome in outcomes
    ]
    return {
        "schema_version": 1,
        "stage": stage,
        "region": region,
        "commit": commit.sha,
        "worktree_dirty": commit.dirty,
        "started_at": _timestamp(started),
        "finished_at": _timestamp(finished),
        "drills": sorted(drills),
        "interrupted": interrupted,
        "summary": {status.value: sum(1 for check in checks if check["status"] == status.value) for status in Status},
        "checks": checks,
        "manual": [
            {"promise": promise.text, "source": promise.source, "reason": promise.manual}
            for promise in PROMISES
            if promise.manual
        ],
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(report: dict[str, Any]) -> str:
    summary = report["summary"]
    verdict = "FAILED" if summary["fail"] else ("INTERRUPTED" if report["interrupted"] else "passed")
    dirty = " (with uncommitted changes)" if report["worktree_dirty"] else ""
    lines = [
        f"# Acceptance of stage `{report['stage']}`: {verdict}",
        "",
        "| | |",
        "|---|---|",
        f"| stage | `{report['stage']}` in `{report['region']}` |",
        f"| commit | `{report['commit']}`{dirty} |",
        f"| run | {report['started_at']} to {report['finished_at']} |",
        f"| drills | {', '.join(report['drills']) or 'none'} |",
        f"| result | {summary['pass']} passed, {summary['fail']} failed, {summary['skip']} skipped |",
        "",
        "## Checks",
        "",
        "| check | result | why | if it fails, read |",
        "|---|---|---|---|",
    ]
    for check in report["checks"]:
        mark = STATUS_MARK[Status(check["status"])]
        lines.append(f"| `{check['name']}` | {mark} | {_cell(check['reason'])} | {check['doc']} |")
    lines += ["", "## Not checked by this command (manual, and why)", ""]
    lines += [f"- {item['promise']} ({item['source']}): {item['reason']}" for item in report["manual"]]
    return "\n".join(lines) + "\n"


def schema_errors(report: dict[str, Any]) -> list[str]:
    """Every way the report breaks report.schema.json (jsonschema, with date-time formats checked)."""
    import json

    import jsonschema  # type: ignore[import-untyped]  # no stubs; it comes with schemathesis

    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(report)
    ]
