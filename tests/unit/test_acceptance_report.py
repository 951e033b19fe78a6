"""make acceptance's report, its schema, its runner's clean-up rules, and its one list of what only AWS can show."""

from __future__ import annotations

import copy
import json
import re
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scripts.acceptance.__main__ import ALL_CHECKS, main, selected_checks
from scripts.acceptance.framework import (
    ROOT,
    Check,
    Cleanup,
    Failed,
    Interrupted,
    Outcome,
    Result,
    Skip,
    Stage,
    Status,
    run_checks,
    run_one,
    signals_blocked,
)
from scripts.acceptance.promises import GENERATED_END, GENERATED_START, PROMISES, promises_table
from scripts.acceptance.report import Commit, build_report, render_markdown, schema_errors

CHECK_NAMES = {check.name for check in ALL_CHECKS}
ONLY_A_REAL_ACCOUNT = re.compile(r"^#+ What only a real .*$", re.IGNORECASE)


def sample_report(**overrides: Any) -> dict[str, Any]:
    outcomes = [
        Outcome(ALL_CHECKS[0], Result(Status.PASS, "fine | with a pipe", 0.5)),
        Outcome(ALL_CHECKS[1], Result(Status.FAIL, "broken", 0.1, ("undo: ClientError: denied",))),
        Outcome(ALL_CHECKS[-1], Result(Status.SKIP, "drill not requested")),
    ]
    arguments: dict[str, Any] = {
        "stage": "prod",
        "region": "eu-west-1",
        "commit": Commit("a" * 40, True),
        "started": datetime(2026, 12, 5, 18, 0, tzinfo=UTC),
        "finished": datetime(2026, 12, 5, 18, 3, tzinfo=UTC),
        "drills": ["alarm-drill"],
        "interrupted": False,
        "outcomes": outcomes,
    }
    arguments.update(overrides)
    return build_report(**arguments)


# --- the report and its schema ----------------------------------------------------------------------------------


def test_a_report_holds_to_its_schema() -> None:
    report = sample_report()
    assert schema_errors(report) == []
    assert report["summary"] == {"pass": 1, "fail": 1, "skip": 1}
    assert report["manual"] and all(item["reason"] for item in report["manual"])


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("commit",), "HEAD"),
        (("checks", 0, "status"), "ok"),
        (("checks", 0, "reason"), "two\nlines"),
        (("checks", 0, "doc"), "https://example.com"),
        (("drills",), ["chaos-drill"]),
        (("started_at",), "2026-12-05 18:00"),
        (("summary", "pass"), -1),
    ],
)
def test_the_schema_refuses_a_report_that_breaks_it(path: tuple[Any, ...], value: Any) -> None:
    report = copy.deepcopy(sample_report())
    target = report
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert schema_errors(report), f"{path} = {value!r} was accepted"


def test_the_schema_refuses_an_unknown_field_and_a_missing_one() -> None:
    assert schema_errors({**sample_report(), "verdict": "green"})
    report = sample_report()
    del report["checks"][0]["doc"]
    assert schema_errors(report)


def test_markdown_names_stage_commit_time_and_every_check_with_its_doc() -> None:
    report = sample_report()
    text = render_markdown(report)
    assert text.startswith("# Acceptance of stage `prod`: FAILED")
    assert f"`{'a' * 40}` (with uncommitted changes)" in text
    assert "2026-12-05T18:00:00Z to 2026-12-05T18:03:00Z" in text
    for check in report["checks"]:
        assert f"| `{check['name']}` |" in text and check["doc"] in text
    assert "fine \\| with a pipe" in text  # a pipe in a reason cannot break the table
    assert render_markdown(sample_report(outcomes=[])).startswith("# Acceptance of stage `prod`: passed")
    assert "INTERRUPTED" in render_markdown(sample_report(outcomes=[], interrupted=True))


def test_every_check_names_an_existing_section_of_the_acceptance_doc() -> None:
    text = (ROOT / "docs" / "acceptance.md").read_text()
    anchors = {heading.strip().lower().replace(" ", "-") for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}
    for check in ALL_CHECKS:
        path, anchor = check.doc.split("#")
        assert path == "docs/acceptance.md" and anchor in anchors, check.name
        assert check.apis and check.promise


def test_check_names_are_unique_and_only_selects_known_ones() -> None:
    assert len(CHECK_NAMES) == len(ALL_CHECKS)
    assert [check.name for check in selected_checks("table_ready, api_smoke")] == ["table_ready", "api_smoke"]
    with pytest.raises(SystemExit, match="unknown check"):
        selected_checks("table_ready,nope")


# --- the runner: clean-up always, signals held while it runs ----------------------------------------------------


def stage() -> Stage:
    return Stage("prod", "us-east-1", {})


def writes_then(outcome: BaseException | None, undone: list[str]) -> Check:
    def run(current: Stage) -> str:
        current.cleanup.push("first write", lambda: undone.append("first"))
        current.cleanup.push("second write", lambda: undone.append("second"))
        if outcome is not None:
            raise outcome
        return "done"

    return Check("writer", "p", ("x",), "docs/acceptance.md#x", run)


@pytest.mark.parametrize(
    ("raised", "status"),
    [(None, Status.PASS), (Failed("no"), Status.FAIL), (Skip("n/a"), Status.SKIP), (RuntimeError("boom"), Status.FAIL)],
)
def test_every_undo_runs_last_first_whatever_the_check_answers(raised: BaseException | None, status: Status) -> None:
    undone: list[str] = []
    assert run_one(writes_then(raised, undone), stage()).status is status
    assert undone == ["second", "first"]


def test_a_failing_undo_fails_the_check_and_the_other_undos_still_run() -> None:
    undone: list[str] = []

    def run(current: Stage) -> str:
        current.cleanup.push("kept", lambda: undone.append("kept"))
        current.cleanup.push("broken", lambda: (_ for _ in ()).throw(RuntimeError("AccessDenied")))
        return "done"

    result = run_one(Check("c", "p", ("x",), "docs/acceptance.md#x", run), stage())
    assert result.status is Status.FAIL and "AccessDenied" in result.reason
    assert undone == ["kept"] and result.cleanup_errors


def test_an_interrupt_between_checks_skips_the_rest_and_names_them() -> None:
    def interrupted(current: Stage) -> str:
        raise KeyboardInterrupt

    checks = [Check("a", "p", ("x",), "docs/acceptance.md#x", interrupted), *ALL_CHECKS[:2]]
    with pytest.raises(Interrupted) as raised:
        run_checks(checks, stage())
    outcomes = raised.value.outcomes
    assert [outcome.result.status for outcome in outcomes] == [Status.FAIL, Status.SKIP, Status.SKIP]


def test_signals_wait_while_an_undo_runs() -> None:
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda number, frame: received.append(number))
    try:
        cleanup = Cleanup()

        def undo_hit_by_sigterm() -> None:
            signal.raise_signal(signal.SIGTERM)
            received.append(0)  # the undo finished before the signal was handled

        cleanup.push("undo", undo_hit_by_sigterm)
        assert cleanup.run() == ()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert received == [0, signal.SIGTERM]
    with signals_blocked():
        assert signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


# --- the one list of what only a real account can show ----------------------------------------------------------


def only_a_real_account_bullets() -> dict[str, list[str]]:
    """Every top-level bullet under a "What only a real ..." heading in docs/, per file."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "docs").rglob("*.md")):
        inside = False
        for line in path.read_text().splitlines():
            if line.startswith("#"):
                inside = bool(ONLY_A_REAL_ACCOUNT.match(line))
            elif inside and line.startswith("- "):
                found.setdefault(path.relative_to(ROOT).as_posix(), []).append(line[2:])
    return found


def test_every_item_the_docs_say_only_a_real_account_can_show_is_a_check_or_manual_with_a_reason() -> None:
    bullets = only_a_real_account_bullets()
    assert bullets, "no 'What only a real ...' list found in docs/"
    for path, items in bullets.items():
        for item in items:
            matches = [p for p in PROMISES if p.source == path and p.doc_bullet and item.startswith(p.doc_bullet)]
            assert len(matches) == 1, f"{path}: {item[:70]!r} is neither a check nor manual in promises.py"
    listed = {(p.source, p.doc_bullet) for p in PROMISES if p.source.startswith("docs/")}
    present = {
        (p.source, p.doc_bullet)
        for p in PROMISES
        for item in bullets.get(p.source, [])
        if item.startswith(p.doc_bullet)
    }
    assert listed == present, f"promises.py quotes bullets the docs no longer hold: {sorted(listed - present)}"


def test_every_promise_is_answered_by_a_known_check_or_a_manual_reason() -> None:
    for promise in PROMISES:
        assert promise.checks or promise.manual, promise.text
        assert set(promise.checks) <= CHECK_NAMES, promise.text
    covered = {name for promise in PROMISES for name in promise.checks}
    assert covered == CHECK_NAMES, f"checks that answer no listed promise: {sorted(CHECK_NAMES - covered)}"


def test_the_acceptance_doc_holds_the_generated_table() -> None:
    text = (ROOT / "docs" / "acceptance.md").read_text()
    start, end = text.index(GENERATED_START), text.index(GENERATED_END) + len(GENERATED_END)
    assert text[start:end] == promises_table({check.name: check.doc for check in ALL_CHECKS}), (
        "docs/acceptance.md is stale: run .venv/bin/python -m scripts.acceptance --write-docs"
    )


def test_a_run_writes_both_reports_and_exits_by_its_results(tmp_path: Path) -> None:
    def no_client(service: str) -> Any:
        raise AssertionError(f"local checks other than table_ready must not reach {service}")

    code = main(["--stage", "local", "--only", "point_in_time_recovery,action_pins", "--out", str(tmp_path)], no_client)
    assert code == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert schema_errors(report) == [] and report["summary"] == {"pass": 0, "fail": 0, "skip": 2}
    assert (tmp_path / "report.md").read_text().startswith("# Acceptance of stage `local`")
