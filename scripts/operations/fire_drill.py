"""Fire drill: sets each of a stage's alarms to ALARM for a moment, so the team sees each page and ticket arrive, then
sets each back to the state it was in.

    python scripts/operations/fire_drill.py --stage dev [--hold-seconds 30] [--only api-down]
    make fire-drill STAGE=dev [HOLD=30] [ONLY=api-down]

`SetAlarmState` changes an alarm's state without touching its metrics: the alarm's actions run (the page or ticket
topic publishes) and CloudWatch re-evaluates the alarm at its next period, so a drilled alarm returns to what its
data says even if this script is killed with SIGKILL. Restoring is still this script's job: on a normal end, an
error, Ctrl-C or SIGTERM it sets every alarm it touched back to its state before the drill, so the OK notification
arrives now, not at the next evaluation. Composite alarms can be set too; their children are left alone.

Only alarms named `llm-scores-<stage>-...` are touched. The SLO window alarms (SILENT: no actions) are skipped: they
notify nobody, so drilling them shows nothing.

Exit status: 0 every alarm was drilled and restored; 1 an alarm could not be set or restored (named on stderr);
2 the stage has no alarms, or a restore was interrupted by a second signal; 130 interrupted, alarms restored.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import boto3

DRILL_REASON = "Fire drill (scripts/operations/fire_drill.py): not a real alarm"
RESTORE_REASON = "Fire drill over: state restored"
APP_NAME = "llm-scores"


@dataclass(frozen=True)
class Alarm:
    name: str
    state: str
    severity: str
    silent: bool


class Interrupted(Exception):
    """SIGTERM, raised like KeyboardInterrupt so `finally` restores the alarms."""


def stage_prefix(stage: str) -> str:
    return f"{APP_NAME}-{stage}-"


def _severity(description: str) -> str:
    head = description.split(":", 1)[0]
    return head if head in ("PAGE", "TICKET", "SILENT") else "UNKNOWN"


def stage_alarms(cloudwatch: Any, stage: str) -> list[Alarm]:
    """Every metric and composite alarm of the stage, with its state now."""
    alarms: list[Alarm] = []
    paginator = cloudwatch.get_paginator("describe_alarms")
    pages = paginator.paginate(AlarmNamePrefix=stage_prefix(stage), AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    for page in pages:
        for described in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            severity = _severity(described.get("AlarmDescription", ""))
            silent = severity == "SILENT" or not described.get("AlarmActions")
            alarms.append(Alarm(described["AlarmName"], described["StateValue"], severity, silent))
    return sorted(alarms, key=lambda alarm: (alarm.severity, alarm.name))


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM (a CI cancel, `kill`) unwinds like Ctrl-C, so the drill's `finally` runs."""

    def raise_interrupted(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_ignored() -> Iterator[None]:
    """While restoring, a second Ctrl-C or SIGTERM must not leave alarms half restored."""
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def restore(cloudwatch: Any, drilled: list[Alarm], say: Callable[[str], None]) -> list[str]:
    """Sets every drilled alarm back to its state before the drill; the names that could not be set."""
    failed = []
    with signals_ignored():
        for alarm in drilled:
            try:
                cloudwatch.set_alarm_state(AlarmName=alarm.name, StateValue=alarm.state, StateReason=RESTORE_REASON)
                say(f"restored  {alarm.name} -> {alarm.state}")
            except Exception as error:  # keep restoring the others, name this one
                failed.append(alarm.name)
                say(f"NOT RESTORED {alarm.name}: {error}")
    return failed


def drill(
    cloudwatch: Any,
    stage: str,
    hold_seconds: float,
    only: set[str] | None = None,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Sets each alarm to ALARM, holds, and restores every one it set, whatever happens in between."""
    alarms = [alarm for alarm in stage_alarms(cloudwatch, stage) if not alarm.silent]
    if only:
        alarms = [alarm for alarm in alarms if alarm.name.removeprefix(stage_prefix(stage)) in only]
    if not alarms:
        say(f"no alarms with actions named {stage_prefix(stage)}*: nothing to drill")
        return 2
    drilled: list[Alarm] = []
    failed: list[str] = []
    status = 0
    try:
        with sigterm_raises():
            for alarm in alarms:
                # Recorded before the call: if the call lands and the answer is lost, the alarm is still restored.
                drilled.append(alarm)
                try:
                    cloudwatch.set_alarm_state(AlarmName=alarm.name, StateValue="ALARM", StateReason=DRILL_REASON)
                except Exception as error:  # drill the rest, report this one
                    failed.append(alarm.name)
                    say(f"NOT SET   {alarm.name}: {error}")
                    continue
                watch = f"watch for its {alarm.severity.lower()}"
                say(f"{alarm.severity:<7} {alarm.name} -> ALARM (was {alarm.state}): {watch}")
                sleep(hold_seconds)
    except (KeyboardInterrupt, Interrupted):
        say("interrupted: restoring every alarm drilled so far")
        status = 130
    finally:
        failed += restore(cloudwatch, drilled, say)
    if failed:
        return 1
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--hold-seconds", type=float, default=10.0, help="how long each alarm stays in ALARM")
    parser.add_argument("--only", action="append", help="an alarm name without the stage prefix; repeatable")
    parser.add_argument("--region", default=None)
    arguments = parser.parse_args(argv)
    cloudwatch = boto3.client("cloudwatch", region_name=arguments.region)
    return drill(cloudwatch, arguments.stage, arguments.hold_seconds, set(arguments.only or []) or None)


if __name__ == "__main__":
    sys.exit(main())
