"""What a check is, what it answers, and the runner that keeps every check's clean-up even when interrupted.

A check is a function of a `Stage` that returns a `Result`, or raises `Skip` or `Failed`. A check that writes
registers each undo with `stage.cleanup` *before* it makes the write, so whatever stops it (an exception,
Ctrl-C, SIGTERM) the undo runs; the runner blocks SIGINT and SIGTERM while undos run, so a second Ctrl-C cannot
cut a clean-up short.
"""

from __future__ import annotations

import enum
import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ACCEPTANCE_DOC = "docs/acceptance.md"


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


class Skip(Exception):
    """The check does not apply to this stage, or needs something this run was not given; the message says which."""


class Failed(Exception):
    """The promise does not hold; the message is the one-line reason."""


@dataclass(frozen=True)
class Result:
    status: Status
    reason: str
    seconds: float = 0.0
    cleanup_errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    """One promise only AWS can answer, how it is checked, and where to read when it fails."""

    name: str
    promise: str
    apis: tuple[str, ...]
    doc: str
    run: Callable[[Stage], str]
    drill_flag: str | None = None
    writes: str = ""

    @property
    def is_drill(self) -> bool:
        return self.drill_flag is not None


class Cleanup:
    """A stack of undos; each registered before its write, run last-in first-out, every one even if one fails."""

    def __init__(self) -> None:
        self._undos: list[tuple[str, Callable[[], None]]] = []

    def push(self, description: str, undo: Callable[[], None]) -> None:
        self._undos.append((description, undo))

    def discard(self, description: str) -> None:
        # A write that turned out not to happen (the call raised before AWS took it) leaves nothing to undo.
        self._undos = [(name, undo) for name, undo in self._undos if name != description]

    def run(self) -> tuple[str, ...]:
        errors: list[str] = []
        with signals_blocked():
            while self._undos:
                description, undo = self._undos.pop()
                try:
                    undo()
                except Exception as error:  # every undo gets its turn; the report names the one that failed
                    errors.append(f"{description}: {type(error).__name__}: {error}")
        return tuple(errors)


@contextmanager
def signals_blocked() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends (they are delivered then), so an undo is never cut short."""
    blocked = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt, so `finally` blocks run, even when SIGINT was inherited ignored."""
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@dataclass
class Stage:
    """What the checks are run against: the stage's names and settings, the API's URL, AWS clients and the flags."""

    name: str
    region: str
    settings: Mapping[str, Any]
    api_url: str | None = None
    aws_endpoint_url: str | None = None
    export_dir: Path | None = None
    deploy_role_arn: str | None = None
    github_repository: str | None = None
    github_environment: str | None = None
    account_environment: str | None = None
    check_github: bool = False
    drill_version: str | None = None
    drills: frozenset[str] = frozenset()
    wait_seconds: float = 600.0
    poll_seconds: float = 10.0
    client_factory: Callable[[str], Any] | None = None
    sleep: Callable[[float], None] = time.sleep
    run_command: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
    cleanup: Cleanup = field(default_factory=Cleanup)
    _clients: dict[str, Any] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.name == "local"

    @property
    def prefix(self) -> str:
        return f"llm-scores-{self.name}"

    @property
    def table_name(self) -> str:
        return f"llm_scores-{self.name}"

    def client(self, service: str) -> Any:
        if service not in self._clients:
            if self.client_factory is not None:
                self._clients[service] = self.client_factory(service)
            else:
                import boto3

                self._clients[service] = boto3.session.Session(region_name=self.region).client(
                    service, endpoint_url=self.aws_endpoint_url
                )
        return self._clients[service]

    def require_aws(self, what: str) -> None:
        """Local stages have no CloudWatch, IAM, API Gateway or CodeDeploy of their own: the promise is AWS's."""
        if self.is_local:
            raise Skip(f"local stage: only a deployed stage has {what}")

    def setting(self, name: str) -> Any:
        if name not in self.settings:
            raise Skip(f"stage setting {name!r} unknown (no infra/terraform/stages/{self.name}.json)")
        return self.settings[name]

    def wait_until(self, what: str, condition: Callable[[], str | None]) -> str:
        """Polls `condition` (a non-empty answer ends the wait) until `wait_seconds`; then fails, naming `what`."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            answer = condition()
            if answer:
                return answer
            if time.monotonic() >= deadline:
                raise Failed(f"{what}: not seen within {self.wait_seconds:.0f} s")
            self.sleep(self.poll_seconds)


def load_stage_settings(stage: str) -> dict[str, Any]:
    path = ROOT / "infra" / "terraform" / "stages" / f"{stage}.json"
    if not path.exists():
        return {}
    settings: dict[str, Any] = json.loads(path.read_text())
    return settings


@dataclass(frozen=True)
class Outcome:
    check: Check
    result: Result


class Interrupted(Exception):
    """The run was interrupted: the outcomes so far, every clean-up done."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        super().__init__("interrupted")
        self.outcomes = outcomes


class CheckInterrupted(Exception):
    """A check was interrupted; its clean-up has run, and `result` says so."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.reason)
        self.result = result


def run_one(check: Check, stage: Stage) -> Result:
    """Runs one check, then its clean-up whatever happened; an interrupt becomes CheckInterrupted after the clean-up."""
    if check.drill_flag is not None and check.drill_flag not in stage.drills:
        return Result(Status.SKIP, f"drill not requested: pass --{check.drill_flag} (it writes: {check.writes})")
    started = time.monotonic()
    stage.cleanup = Cleanup()
    interrupted = False
    try:
        status, reason = Status.PASS, check.run(stage)
    except Skip as skip:
        status, reason = Status.SKIP, str(skip)
    except Failed as failure:
        status, reason = Status.FAIL, str(failure)
    except KeyboardInterrupt:
        interrupted = True
        status, reason = Status.FAIL, "interrupted; its clean-up ran"
    except Exception as error:  # an API refusal (AccessDenied, a missing resource) is this check's answer
        status, reason = Status.FAIL, f"{type(error).__name__}: {error}"
    finally:
        # Runs even for what the handlers above do not catch (SystemExit), so no write outlives its check.
        cleanup_errors = stage.cleanup.run()
    if cleanup_errors:
        status = Status.FAIL
        reason = f"{reason}; clean-up failed: {cleanup_errors[0]}"
    result = Result(status, _one_line(reason), round(time.monotonic() - started, 3), cleanup_errors)
    if interrupted:
        raise CheckInterrupted(result)
    return result


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def run_checks(
    checks: list[Check], stage: Stage, on_result: Callable[[Check, Result], None] | None = None
) -> list[Outcome]:
    """Every check in order; on an interrupt, the interrupted check's clean-up runs and the rest are skipped."""
    outcomes: list[Outcome] = []
    with interrupts_raise():
        for index, check in enumerate(checks):
            try:
                result = run_one(check, stage)
            except CheckInterrupted as interruption:
                outcomes.append(Outcome(check, interruption.result))
                for rest in checks[index + 1 :]:
                    outcomes.append(Outcome(rest, Result(Status.SKIP, "not run: the run was interrupted")))
                raise Interrupted(outcomes) from None
            except KeyboardInterrupt:
                # Between checks: nothing of this check was written yet.
                outcomes.append(Outcome(check, Result(Status.SKIP, "not run: the run was interrupted")))
                for rest in checks[index + 1 :]:
                    outcomes.append(Outcome(rest, Result(Status.SKIP, "not run: the run was interrupted")))
                raise Interrupted(outcomes) from None
            outcomes.append(Outcome(check, result))
            if on_result is not None:
                on_result(check, result)
    return outcomes
