"""Data changes like code changes: plan what a stage's data file would do to its table, then apply that plan.

    python scripts/operations/data_plan.py plan --stage dev [--file data/stages/dev.json] [--prune]
        [--allow-mass-delete] [--out build/data-plan-dev.json] [--markdown build/data-plan-dev.md]
    python scripts/operations/data_plan.py apply --plan build/data-plan-dev.json

`plan` reads the whole table (consistently) and writes nothing to it. It lists, row by row, what
applying the file would do: add; change, with each field's old and new value; unchanged; remove
(with `--prune`, for items the file no longer holds); and refused, where the table holds a newer
`updated_at`. The rules are the seeder's own (scripts/operations/seed_data.py): the same validation
of the whole file first, the same instant comparison of `updated_at`, the same update that sets the
served fields and leaves other writers' attributes alone. It saves the plan as JSON (for `apply`)
and as Markdown (for a pull request or a job summary).

`apply` writes exactly what the plan lists, nothing re-planned. The plan holds each touched row's
served fields as they were when planned, and every write and delete is conditional on them: if
anything changed in between, the plan is stale and refused. It checks every row before the first
write, so a stale plan normally writes nothing. Every write records where it came from (commit,
run, actor) in the `written_by` attribute, and apply then bumps the catalogue version, so warm
containers serve the change within seconds (chalicelib/catalogue_version.py).

Pruning is bounded: more removals than `MASS_DELETE_ROWS` or `MASS_DELETE_SHARE` of the table,
whichever is larger, need `--allow-mass-delete`, and a plan that would leave the table empty is
always refused. Exit status: 0 done, 1 DynamoDB failed, 2 refused (bad file, bad or stale plan, a
prune past its bounds) with nothing written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from chalicelib.catalogue_version import VERSION_KEY, bump_version
from chalicelib.models import FIELD_ORDER, InvalidItem, item_to_dynamodb, validate_item
from scripts.operations import seed_data

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# One file per stage, reviewed like code; data/llms.json stays the sample the local stack starts from.
STAGE_DATA_DIRECTORY = PROJECT_ROOT / "data" / "stages"
PLAN_FORMAT = 1
# A prune may remove this many rows, or this share of the table if that is more, without --allow-mass-delete.
MASS_DELETE_ROWS = 5
MASS_DELETE_SHARE = 0.10
# make run's moto server (scripts/harness/run_local.py), used for the local stage unless the endpoint is set.
LOCAL_STAGE = "local"
LOCAL_DYNAMODB_PORT = 8001
SERVED_FIELDS = tuple(name for name in FIELD_ORDER if name != "model_name")

ADD = "add"
CHANGE = "change"
REMOVE = "remove"


class PlanRefused(ValueError):
    """The plan cannot be made or applied as asked; nothing was written."""


class StalePlan(PlanRefused):
    """A row the plan touches changed after the plan was made."""


def stage_data_file(stage: str) -> Path:
    """Where a stage's reviewed data lives: data/stages/<stage>.json."""
    return STAGE_DATA_DIRECTORY / f"{stage}.json"


def stage_table(stage: str) -> str:
    """The stage's table, as .chalice/config.json (its one definition) names it."""
    config = json.loads((PROJECT_ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    try:
        name: str = config["stages"][stage]["environment_variables"]["TABLE_NAME"]
    except KeyError:
        raise PlanRefused(f"stage {stage!r} has no TABLE_NAME in .chalice/config.json") from None
    return name


# --- comparing what the table holds with what the file says ----------------------------------------------------


def _same_value(left: Mapping[str, Any], right: Mapping[str, Any]) -> bool:
    """Two DynamoDB attribute values are equal; numbers compare by value, so "88.70" equals "88.7"."""
    if left.keys() != right.keys() or len(left) != 1:
        return False
    ((kind, a),) = left.items()
    b = right[kind]
    if kind == "N":
        try:
            return Decimal(a) == Decimal(b)
        except (InvalidOperation, TypeError):
            return bool(a == b)
    if kind == "M":
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_same_value(a[key], b[key]) for key in a)
        )
    if kind == "L":
        return (
            isinstance(a, list)
            and isinstance(b, list)
            and len(a) == len(b)
            and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
        )
    return bool(a == b)


def _shown(attribute: Mapping[str, Any] | None) -> Any:
    """An attribute value as plain JSON, for people to read in a diff (numbers keep their stored text)."""
    if attribute is None:
        return None
    if len(attribute) != 1:
        return attribute
    ((kind, value),) = attribute.items()
    if kind == "N":
        try:
            number = Decimal(value)
            return int(number) if number == number.to_integral_value() and "." not in value else float(number)
        except (InvalidOperation, TypeError, ValueError):
            return value
    if kind == "M" and isinstance(value, dict):
        return {key: _shown(inner) for key, inner in sorted(value.items())}
    if kind == "L" and isinstance(value, list):
        return [_shown(inner) for inner in value]
    if kind == "NULL":
        return None
    return value


def served_attributes(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes of a stored item the API serves: what the plan compares and conditions on."""
    return {name: stored[name] for name in FIELD_ORDER if name in stored}


def field_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each served field whose value differs: name, old value, new value (None where absent)."""
    changes = []
    for name in SERVED_FIELDS:
        old, new = before.get(name), after.get(name)
        if old is None and new is None:
            continue
        if old is None or new is None or not _same_value(old, new):
            changes.append({"field": name, "from": _shown(old), "to": _shown(new)})
    return changes


# --- the plan -----------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    stage: str
    table: str
    file: str
    file_sha256: str
    prune: bool
    actions: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused_newer: list[dict[str, Any]] = field(default_factory=list)
    # Rows the table holds and the file does not, left alone because --prune was not given.
    not_in_file: list[str] = field(default_factory=list)
    table_rows: int = 0
    planned_at: str = ""
    planned_from_commit: str = ""

    def count(self, action: str) -> int:
        return sum(1 for entry in self.actions if entry["action"] == action)

    def to_json(self) -> dict[str, Any]:
        return {
            "plan_format": PLAN_FORMAT,
            "stage": self.stage,
            "table": self.table,
            "file": self.file,
            "file_sha256": self.file_sha256,
            "prune": self.prune,
            "planned_at": self.planned_at,
            "planned_from_commit": self.planned_from_commit,
            "table_rows": self.table_rows,
            "summary": self.summary(),
            "actions": self.actions,
            "unchanged": self.unchanged,
            "refused_newer": self.refused_newer,
            "not_in_file": self.not_in_file,
        }

    def summary(self) -> dict[str, int]:
        return {
            ADD: self.count(ADD),
            CHANGE: self.count(CHANGE),
            REMOVE: self.count(REMOVE),
            "unchanged": len(self.unchanged),
            "refused_newer": len(self.refused_newer),
            "not_in_file": len(self.not_in_file),
        }

    def as_text(self) -> str:
        lines = [f"data plan for {self.table} (stage {self.stage}) from {self.file}:"]
        for entry in self.actions:
            name = entry["model_name"]
            if entry["action"] == CHANGE:
                lines.append(f"  ~ change  {name}")
                lines.extend(f"      {d['field']}: {_json(d['from'])} -> {_json(d['to'])}" for d in entry["diff"])
            else:
                lines.append(f"  {'+' if entry['action'] == ADD else '-'} {entry['action']:<7} {name}")
        for refused in self.refused_newer:
            lines.append(
                f"  ! refused {refused['model_name']}: the table's updated_at {refused['table_updated_at']} "
                f"is newer than the file's {refused['file_updated_at']}"
            )
        if self.not_in_file:
            lines.append(f"  {len(self.not_in_file)} row(s) in the table but not in the file, kept (--prune removes)")
        summary = self.summary()
        lines.append(
            f"{summary[ADD]} to add, {summary[CHANGE]} to change, {summary[REMOVE]} to remove, "
            f"{summary['unchanged']} unchanged, {summary['refused_newer']} refused (table newer)"
        )
        return "\n".join(lines)

    def as_markdown(self) -> str:
        summary = self.summary()
        lines = [
            f"### Data plan: `{self.table}` (stage `{self.stage}`)",
            "",
            f"From `{self.file}` (sha256 `{self.file_sha256[:12]}`), commit `{self.planned_from_commit[:12]}`, "
            f"planned {self.planned_at}; the table held {self.table_rows} row(s).",
            "",
            f"**{summary[ADD]} to add, {summary[CHANGE]} to change, {summary[REMOVE]} to remove**, "
            f"{summary['unchanged']} unchanged, {summary['refused_newer']} refused because the table is newer"
            + (f", {summary['not_in_file']} not in the file and kept (no `--prune`)" if self.not_in_file else "")
            + ".",
            "",
        ]
        if self.actions or self.refused_newer:
            lines += ["| | model | what changes |", "|---|---|---|"]
            for entry in self.actions:
                name = _markdown_cell(entry["model_name"])
                if entry["action"] == CHANGE:
                    detail = "<br>".join(
                        f"`{d['field']}`: {_markdown_cell(_json(d['from']))} → {_markdown_cell(_json(d['to']))}"
                        for d in entry["diff"]
                    )
                    lines.append(f"| change | `{name}` | {detail} |")
                elif entry["action"] == ADD:
                    lines.append(f"| add | `{name}` | new row |")
                else:
                    lines.append(f"| remove | `{name}` | deleted (`--prune`) |")
            for refused in self.refused_newer:
                lines.append(
                    f"| refused | `{_markdown_cell(refused['model_name'])}` | table's `updated_at` "
                    f"{_markdown_cell(str(refused['table_updated_at']))} is newer than the file's "
                    f"{_markdown_cell(str(refused['file_updated_at']))} |"
                )
        else:
            lines.append("Nothing to write.")
        return "\n".join(lines) + "\n"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _markdown_cell(text: str) -> str:
    """Text that cannot break out of a table cell or inject markup into a job summary."""
    return "".join("\\" + char if char in "|`*_<>[]\\" else char for char in text.replace("\n", " "))


def scan_table(client: Any, table: str) -> Iterator[dict[str, Any]]:
    """Every stored item but the catalogue version, consistently read (a plan must see the latest writes)."""
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        for stored in page.get("Items", []):
            if stored.get("model_name", {}).get("S") != VERSION_KEY:
                yield stored
        if not page.get("LastEvaluatedKey"):
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _stored_name(stored: Mapping[str, Any]) -> str:
    value = stored.get("model_name", {})
    text = value.get("S") if isinstance(value, dict) else None
    return text if isinstance(text, str) else repr(value)


def make_plan(
    client: Any,
    *,
    stage: str,
    table: str,
    data_file: Path,
    prune: bool = False,
    allow_mass_delete: bool = False,
    commit: str = "",
) -> Plan:
    """What applying `data_file` to `table` would do; `SeedFileError` or `PlanRefused` before anything else."""
    items = seed_data.load_items(data_file)
    stored_by_name = {_stored_name(stored): stored for stored in scan_table(client, table)}
    plan = Plan(
        stage=stage,
        table=table,
        file=_relative(data_file),
        file_sha256=hashlib.sha256(data_file.read_bytes()).hexdigest(),
        prune=prune,
        table_rows=len(stored_by_name),
        planned_at=datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        planned_from_commit=commit,
    )
    in_file = set()
    for item in items:
        name = item["model_name"]
        in_file.add(name)
        stored = stored_by_name.get(name)
        if stored is None:
            plan.actions.append({"action": ADD, "model_name": name, "item": item})
            continue
        if seed_data.table_is_newer(stored, item):
            plan.refused_newer.append(
                {
                    "model_name": name,
                    "table_updated_at": _shown(stored.get("updated_at")),
                    "file_updated_at": item.get("updated_at"),
                }
            )
            continue
        before = served_attributes(stored)
        diff = field_diff(before, item_to_dynamodb(item))
        if diff:
            plan.actions.append({"action": CHANGE, "model_name": name, "item": item, "expected": before, "diff": diff})
        else:
            plan.unchanged.append(name)
    leftovers = sorted(name for name in stored_by_name if name not in in_file)
    if prune:
        for name in leftovers:
            plan.actions.append(
                {"action": REMOVE, "model_name": name, "expected": served_attributes(stored_by_name[name])}
            )
        _check_removals(plan, allow_mass_delete)
    else:
        plan.not_in_file = leftovers
    return plan


def removal_cap(table_rows: int) -> int:
    """How many rows a prune may remove without --allow-mass-delete."""
    return max(MASS_DELETE_ROWS, int(table_rows * MASS_DELETE_SHARE))


def _check_removals(plan: Plan, allow_mass_delete: bool) -> None:
    removals = plan.count(REMOVE)
    if not removals:
        return
    remaining = plan.table_rows - removals + plan.count(ADD)
    if remaining <= 0:
        raise PlanRefused(
            f"the plan would remove all {removals} row(s) of {plan.table} and leave it empty; "
            "that is never done by a prune (--allow-mass-delete does not cover it)"
        )
    cap = removal_cap(plan.table_rows)
    if removals > cap and not allow_mass_delete:
        raise PlanRefused(
            f"the plan would remove {removals} of {plan.table_rows} row(s), more than the {cap} a prune may "
            f"remove unreviewed ({MASS_DELETE_ROWS} rows or {MASS_DELETE_SHARE:.0%} of the table); "
            "check the file, then plan again with --allow-mass-delete if that is really meant"
        )


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


# --- applying a plan ------------------------------------------------------------------------------------------


@dataclass
class ApplyReport:
    written: int = 0
    removed: int = 0
    version: str | None = None

    def as_text(self) -> str:
        version = f"; catalogue version now {self.version}" if self.version else "; nothing to write"
        return f"wrote {self.written} row(s), removed {self.removed} row(s){version}"


def load_plan(path: Path) -> dict[str, Any]:
    """Reads a plan file and checks it whole, every item by the API's rules; `PlanRefused` if anything is off."""
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PlanRefused(f"cannot read plan {path}: {error.strerror}") from None
    except ValueError as error:
        raise PlanRefused(f"plan {path} is not valid JSON: {error}") from None
    if not isinstance(plan, dict) or plan.get("plan_format") != PLAN_FORMAT:
        raise PlanRefused(f"{path} is not a data plan of format {PLAN_FORMAT}; make it with `make data-plan`")
    if not isinstance(plan.get("table"), str) or not isinstance(plan.get("actions"), list):
        raise PlanRefused(f"plan {path} names no table or no actions")
    for number, entry in enumerate(plan["actions"], start=1):
        _check_action(entry, f"plan {path}, action {number}")
    return plan


def _check_action(entry: Any, where: str) -> None:
    """One action of a plan file, checked as strictly as the data file was: a hand edit cannot slip through."""
    if not isinstance(entry, dict) or entry.get("action") not in (ADD, CHANGE, REMOVE):
        raise PlanRefused(f"{where}: not an add, change or remove")
    if not isinstance(entry.get("model_name"), str) or entry["model_name"] == VERSION_KEY:
        raise PlanRefused(f"{where}: no model_name")
    if entry["action"] in (ADD, CHANGE):
        try:
            entry["item"] = validate_item(entry.get("item"))
        except InvalidItem as error:
            raise PlanRefused(f"{where} ({entry['model_name']!r}): {error}") from None
        if entry["item"]["model_name"] != entry["model_name"]:
            raise PlanRefused(f"{where}: the item's model_name is not the action's")
    if entry["action"] in (CHANGE, REMOVE) and not isinstance(entry.get("expected"), dict):
        raise PlanRefused(f"{where} ({entry['model_name']!r}): no recorded table state to write on condition of")


def _condition(entry: Mapping[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The condition that the row is still exactly as planned: absent for an add, its served fields otherwise."""
    if entry["action"] == ADD:
        return "attribute_not_exists(model_name)", {}, {}
    expected = entry["expected"]
    parts = ["attribute_exists(model_name)"]
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    for index, name in enumerate(SERVED_FIELDS):
        names[f"#planned{index}"] = name
        if name in expected:
            values[f":planned{index}"] = expected[name]
            parts.append(f"#planned{index} = :planned{index}")
        else:
            parts.append(f"attribute_not_exists(#planned{index})")
    return " AND ".join(parts), names, values


def _still_as_planned(stored: Mapping[str, Any] | None, entry: Mapping[str, Any]) -> bool:
    if entry["action"] == ADD:
        return stored is None
    if stored is None:
        return False
    now = served_attributes(stored)
    expected = entry["expected"]
    return now.keys() == expected.keys() and all(_same_value(now[name], expected[name]) for name in now)


def apply_plan(client: Any, plan: Mapping[str, Any], written_by: dict[str, str]) -> ApplyReport:
    """Writes the plan's actions, each on condition the row is as planned; `StalePlan` if one is not."""
    table = plan["table"]
    actions = plan["actions"]
    stale = [
        entry["model_name"]
        for entry in actions
        if not _still_as_planned(
            client.get_item(TableName=table, Key={"model_name": {"S": entry["model_name"]}}, ConsistentRead=True).get(
                "Item"
            ),
            entry,
        )
    ]
    if stale:
        raise StalePlan(
            f"the plan is stale: {len(stale)} row(s) changed in {table} since it was made "
            f"({', '.join(stale[:10])}); nothing was written: run data-plan again and review the new plan"
        )
    report = ApplyReport()
    try:
        for entry in actions:
            condition, names, values = _condition(entry)
            key = {"model_name": {"S": entry["model_name"]}}
            try:
                if entry["action"] == REMOVE:
                    arguments: dict[str, Any] = {"Key": key, "ConditionExpression": condition}
                    if names:
                        arguments["ExpressionAttributeNames"] = names
                    if values:
                        arguments["ExpressionAttributeValues"] = values
                    client.delete_item(TableName=table, **arguments)
                    report.removed += 1
                else:
                    arguments = seed_data.update_arguments(entry["item"], written_by)
                    arguments["ConditionExpression"] = condition
                    arguments["ExpressionAttributeNames"].update(names)
                    arguments["ExpressionAttributeValues"].update(values)
                    client.update_item(TableName=table, **arguments)
                    report.written += 1
            except client.exceptions.ConditionalCheckFailedException:
                raise StalePlan(
                    f"the plan went stale while it was applied: {entry['model_name']!r} changed after the check; "
                    f"{report.written} row(s) written and {report.removed} removed before it, the rest not applied: "
                    "run data-plan again and review the new plan"
                ) from None
    finally:
        if report.written or report.removed:
            # Even after a partial apply: what was written must reach warm containers within seconds too.
            report.version = bump_version(client, table, written_by)
    return report


# --- the command line -----------------------------------------------------------------------------------------


def create_client(stage: str) -> Any:
    """A DynamoDB client with bounded retries; the local stage talks to make run's moto with dummy credentials."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=5, read_timeout=30)
    if stage == LOCAL_STAGE and not os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"):
        port = os.environ.get("DYNAMODB_PORT", str(LOCAL_DYNAMODB_PORT))
        return boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=config,
        )
    return boto3.client("dynamodb", config=config)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    plan_parser = commands.add_parser("plan", help="show what applying the stage's data file would do; writes nothing")
    plan_parser.add_argument("--stage", required=True)
    plan_parser.add_argument("--file", type=Path, help="default: data/stages/<stage>.json")
    plan_parser.add_argument("--table", help="default: the stage's TABLE_NAME in .chalice/config.json")
    plan_parser.add_argument("--prune", action="store_true", help="remove rows the file no longer holds")
    plan_parser.add_argument("--allow-mass-delete", action="store_true", help="let a prune exceed its cap")
    plan_parser.add_argument("--out", type=Path, help="plan file (default: build/data-plan-<stage>.json)")
    plan_parser.add_argument("--markdown", type=Path, help="Markdown copy (default: build/data-plan-<stage>.md)")
    apply_parser = commands.add_parser("apply", help="apply a plan file exactly, refusing it if it is stale")
    apply_parser.add_argument("--plan", type=Path, required=True)
    apply_parser.add_argument("--stage", help="refuse the plan unless it was made for this stage")
    arguments = parser.parse_args(argv)

    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if arguments.command == "plan":
            return _plan_command(arguments)
        plan = load_plan(arguments.plan)
        if arguments.stage is not None and plan.get("stage") != arguments.stage:
            raise PlanRefused(f"{arguments.plan} was made for stage {plan.get('stage')!r}, not {arguments.stage!r}")
        client = create_client(str(plan.get("stage")))
        source = f"data-apply {plan.get('file')}@{str(plan.get('file_sha256', ''))[:12]}"
        report = apply_plan(client, plan, seed_data.provenance(source))
    except (seed_data.SeedFileError, PlanRefused) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as error:
        print(f"error: DynamoDB refused: {error}", file=sys.stderr)
        return 1
    print(report.as_text())
    return 0


def _plan_command(arguments: argparse.Namespace) -> int:
    stage: str = arguments.stage
    out: Path = arguments.out or PROJECT_ROOT / "build" / f"data-plan-{stage}.json"
    markdown: Path = arguments.markdown or out.with_suffix(".md")
    # A plan that could not be made leaves no older plan behind for `apply` to pick up.
    for path in (out, markdown):
        path.unlink(missing_ok=True)
    data_file: Path = arguments.file or stage_data_file(stage)
    table = arguments.table or stage_table(stage)
    client = create_client(stage)
    plan = make_plan(
        client,
        stage=stage,
        table=table,
        data_file=data_file,
        prune=arguments.prune,
        allow_mass_delete=arguments.allow_mass_delete,
        commit=seed_data.provenance("data-plan")["commit"],
    )
    _write(out, json.dumps(plan.to_json(), indent=1, sort_keys=True) + "\n")
    _write(markdown, plan.as_markdown())
    print(plan.as_text())
    print(f"plan saved to {_relative(out)} (Markdown: {_relative(markdown)})")
    print(f"apply it with: make data-apply STAGE={stage}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
