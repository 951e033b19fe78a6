"""`make data-plan` / `make data-apply` against moto's server over HTTP: what the plan shows is what apply does.

Each test gets its own table on one moto server, and drives the real command line (`data_plan.main`)
with the endpoint in the environment, as the Makefile and the workflow do.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.catalogue_version import VERSION_ATTRIBUTE, VERSION_KEY, read_version
from chalicelib.config import Settings
from chalicelib.models import item_to_dynamodb, validate_item
from chalicelib.repository import ScoresRepository, create_client
from scripts.harness.local_stack import LOCAL_AWS_ENVIRONMENT, Moto
from scripts.operations import data_plan, seed_data

STAGE = "test"


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    server = Moto.start()
    yield server
    server.stop()


@pytest.fixture
def table(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in LOCAL_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint)
    # The audit record's actor and run, as a workflow run would give them.
    monkeypatch.setenv("GITHUB_ACTOR", "data-reviewer")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
    name = f"llm_scores-{uuid.uuid4().hex[:8]}"
    seed_data.ensure_table(moto.client, name, create=True)
    return name


def row(name: str, score: float = 70.0, updated_at: str = "2026-11-01T00:00:00Z", **fields: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "provider": "Acme",
        "context_window": 8192,
        "score": score,
        "updated_at": updated_at,
        **fields,
    }


def put(moto: Moto, table: str, *rows: dict[str, Any], **extra: dict[str, Any]) -> None:
    """Writes rows as another writer would, whole, with any extra attributes."""
    for raw in rows:
        moto.client.put_item(TableName=table, Item={**item_to_dynamodb(validate_item(raw)), **extra})


def stored(moto: Moto, table: str) -> dict[str, dict[str, Any]]:
    pages = moto.client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return {item["model_name"]["S"]: item for page in pages for item in page["Items"]}


def data_file(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / f"{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def plan(tmp_path: Path, table: str, file: Path, *flags: str) -> tuple[int, Path]:
    out = tmp_path / "plan.json"
    status = data_plan.main(
        ["plan", "--stage", STAGE, "--table", table, "--file", str(file), "--out", str(out), *flags]
    )
    return status, out


def apply(plan_file: Path) -> int:
    return data_plan.main(["apply", "--plan", str(plan_file), "--stage", STAGE])


def test_plan_shows_each_row_and_writes_nothing(moto: Moto, table: str, tmp_path: Path, capsys) -> None:
    put(moto, table, row("same"), row("scored", score=70.0), row("newer-in-table", updated_at="2026-12-01T00:00:00Z"))
    before = stored(moto, table)
    file = data_file(
        tmp_path,
        [row("same"), row("scored", score=71.5), row("newer-in-table", score=1.0), row("brand-new", score=90.0)],
    )

    status, out = plan(tmp_path, table, file)

    assert status == 0
    assert stored(moto, table) == before  # a plan writes nothing
    written = json.loads(out.read_text())
    assert written["summary"] == {
        "add": 1,
        "change": 1,
        "remove": 0,
        "unchanged": 1,
        "refused_newer": 1,
        "not_in_file": 0,
    }
    change = next(entry for entry in written["actions"] if entry["action"] == "change")
    assert change["model_name"] == "scored"
    assert change["diff"] == [{"field": "score", "from": 70.0, "to": 71.5}]
    assert written["refused_newer"][0]["model_name"] == "newer-in-table"
    markdown = out.with_suffix(".md").read_text()
    assert "| change | `scored` | `score`: 70.0 → 71.5 |" in markdown
    assert "| add | `brand-new` | new row |" in markdown
    assert "| refused | `newer-in-table` |" in markdown
    text = capsys.readouterr().out
    assert "~ change  scored" in text and "score: 70.0 -> 71.5" in text


def test_apply_writes_exactly_the_plan_records_who_wrote_and_bumps_the_version(
    moto: Moto, table: str, tmp_path: Path
) -> None:
    put(moto, table, row("same"), row("scored", score=70.0), row("newer-in-table", updated_at="2026-12-01T00:00:00Z"))
    # Another writer's attribute on a row the plan changes: apply must leave it alone.
    moto.client.update_item(
        TableName=table,
        Key={"model_name": {"S": "scored"}},
        UpdateExpression="SET notes = :notes",
        ExpressionAttributeValues={":notes": {"S": "kept"}},
    )
    file = data_file(
        tmp_path, [row("same"), row("scored", score=71.5), row("newer-in-table", score=1.0), row("brand-new")]
    )
    status, out = plan(tmp_path, table, file)
    assert status == 0

    assert apply(out) == 0

    after = stored(moto, table)
    assert after["scored"]["score"] == {"N": "71.5"}
    assert after["scored"]["notes"] == {"S": "kept"}
    assert "brand-new" in after
    assert after["newer-in-table"]["score"] == {"N": "70.0"}  # the table's newer row was kept
    assert "written_by" not in after["same"]  # unchanged rows are not written
    audit = after["scored"]["written_by"]["M"]
    assert audit["actor"] == {"S": "data-reviewer"}
    assert audit["commit"] == {"S": "0123456789abcdef0123456789abcdef01234567"}
    assert audit["run"]["S"].endswith("/actions/runs/4242/attempts/1")
    assert after[VERSION_KEY][VERSION_ATTRIBUTE] == {"N": "1"}


def test_a_write_between_plan_and_apply_makes_the_plan_stale_and_nothing_is_written(
    moto: Moto, table: str, tmp_path: Path, capsys
) -> None:
    put(moto, table, row("scored", score=70.0))
    status, out = plan(tmp_path, table, data_file(tmp_path, [row("scored", score=71.5), row("brand-new")]))
    assert status == 0
    # A concurrent writer changes the row without touching updated_at: the plan's diff no longer holds.
    moto.client.update_item(
        TableName=table,
        Key={"model_name": {"S": "scored"}},
        UpdateExpression="SET score = :score",
        ExpressionAttributeValues={":score": {"N": "99"}},
    )
    before = stored(moto, table)

    assert apply(out) == 2

    assert stored(moto, table) == before  # not even the unrelated addition, nor a version bump
    assert "the plan is stale" in capsys.readouterr().err


def test_a_write_that_lands_after_the_check_is_refused_by_the_conditional_write(
    moto: Moto, table: str, tmp_path: Path
) -> None:
    put(moto, table, row("scored", score=70.0))
    status, out = plan(tmp_path, table, data_file(tmp_path, [row("scored", score=71.5)]))
    assert status == 0
    planned = data_plan.load_plan(out)

    class WriterSneaksIn:
        """The real client, with another writer's update landing between apply's check and its write."""

        def __init__(self, client: Any) -> None:
            self._client = client
            self.exceptions = client.exceptions

        def get_item(self, **arguments: Any) -> Any:
            answer = self._client.get_item(**arguments)
            self._client.update_item(
                TableName=table,
                Key={"model_name": {"S": "scored"}},
                UpdateExpression="SET score = :score",
                ExpressionAttributeValues={":score": {"N": "99"}},
            )
            return answer

        def __getattr__(self, name: str) -> Any:
            return getattr(self._client, name)

    with pytest.raises(data_plan.StalePlan):
        data_plan.apply_plan(WriterSneaksIn(moto.client), planned, {"actor": "test"})
    assert stored(moto, table)["scored"]["score"] == {"N": "99"}  # the other writer's value survives


def test_prune_under_the_cap_removes_the_rows_the_file_dropped(moto: Moto, table: str, tmp_path: Path) -> None:
    rows = [row(f"model-{index:02d}") for index in range(10)]
    put(moto, table, *rows)
    status, out = plan(tmp_path, table, data_file(tmp_path, rows[:8]), "--prune")
    assert status == 0
    assert [entry["model_name"] for entry in json.loads(out.read_text())["actions"]] == ["model-08", "model-09"]

    assert apply(out) == 0

    assert sorted(name for name in stored(moto, table) if name != VERSION_KEY) == [
        row["model_name"] for row in rows[:8]
    ]


def test_without_prune_dropped_rows_are_kept_and_listed(moto: Moto, table: str, tmp_path: Path) -> None:
    rows = [row(f"model-{index:02d}") for index in range(3)]
    put(moto, table, *rows)
    status, out = plan(tmp_path, table, data_file(tmp_path, rows[:1]))
    assert status == 0
    assert json.loads(out.read_text())["not_in_file"] == ["model-01", "model-02"]
    assert json.loads(out.read_text())["actions"] == []


def test_prune_over_the_cap_is_refused_unless_mass_delete_is_allowed(
    moto: Moto, table: str, tmp_path: Path, capsys
) -> None:
    rows = [row(f"model-{index:02d}") for index in range(20)]
    put(moto, table, *rows)
    file = data_file(tmp_path, rows[:14])  # 6 removals: over max(5 rows, 10% of 20)
    stale_plan = tmp_path / "plan.json"
    stale_plan.write_text("{}")

    status, out = plan(tmp_path, table, file, "--prune")

    assert status == 2
    assert "more than the 5 a prune may remove" in capsys.readouterr().err
    assert not out.exists()  # no plan left behind for apply to take
    assert len(stored(moto, table)) == 20
    status, out = plan(tmp_path, table, file, "--prune", "--allow-mass-delete")
    assert status == 0
    assert json.loads(out.read_text())["summary"]["remove"] == 6


def test_a_prune_that_would_empty_the_table_is_always_refused(moto: Moto, table: str, tmp_path: Path, capsys) -> None:
    put(moto, table, row("only-one"), row("only-two"))

    status, out = plan(tmp_path, table, data_file(tmp_path, []), "--prune", "--allow-mass-delete")

    assert status == 2
    assert "leave it empty" in capsys.readouterr().err
    assert not out.exists()
    assert len(stored(moto, table)) == 2


def test_an_empty_file_without_prune_plans_nothing(moto: Moto, table: str, tmp_path: Path) -> None:
    put(moto, table, row("only-one"))
    status, out = plan(tmp_path, table, data_file(tmp_path, []))
    assert status == 0
    written = json.loads(out.read_text())
    assert written["actions"] == [] and written["not_in_file"] == ["only-one"]
    assert apply(out) == 0
    assert VERSION_KEY not in stored(moto, table)  # nothing written, so nothing to announce


def test_a_bad_row_refuses_the_whole_file_with_exit_2(moto: Moto, table: str, tmp_path: Path, capsys) -> None:
    file = data_file(tmp_path, [row("fine"), {**row("broken"), "score": "high"}])
    status, out = plan(tmp_path, table, file)
    assert status == 2
    assert "row 2 (model_name 'broken')" in capsys.readouterr().err
    assert not out.exists()


def test_a_tampered_plan_is_refused_before_anything_is_written(moto: Moto, table: str, tmp_path: Path, capsys) -> None:
    status, out = plan(tmp_path, table, data_file(tmp_path, [row("first"), row("second")]))
    assert status == 0
    tampered = json.loads(out.read_text())
    tampered["actions"][1]["item"]["context_window"] = -1
    out.write_text(json.dumps(tampered))

    assert apply(out) == 2

    assert "context_window" in capsys.readouterr().err
    assert stored(moto, table) == {}


def test_a_plan_for_another_stage_is_refused(moto: Moto, table: str, tmp_path: Path) -> None:
    status, out = plan(tmp_path, table, data_file(tmp_path, [row("first")]))
    assert status == 0
    assert data_plan.main(["apply", "--plan", str(out), "--stage", "prod"]) == 2
    assert stored(moto, table) == {}


def test_the_api_serves_neither_the_audit_attribute_nor_the_version_item_and_skips_nothing(
    moto: Moto, table: str, tmp_path: Path
) -> None:
    status, out = plan(tmp_path, table, data_file(tmp_path, [row("first"), row("second", benchmarks={"mmlu": 80})]))
    assert status == 0
    assert apply(out) == 0
    assert "written_by" in stored(moto, table)["first"] and VERSION_KEY in stored(moto, table)

    # The API's own client and scan (trimmed botocore model, wire-format parser), over HTTP to moto.
    client = create_client(Settings.from_environment({"TABLE_NAME": table, "AWS_REGION": "us-east-1"}))
    result = ScoresRepository(client, table).scan_all()

    assert result.skipped_items == 0
    assert sorted(item["model_name"] for item in result.items) == ["first", "second"]
    assert all("written_by" not in item for item in result.items)
    assert read_version(client, table) == "1"
