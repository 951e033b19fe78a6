"""Seeding against moto: validation before any write, idempotence, and never clobbering newer data."""

import json

import pytest

from chalicelib.models import item_from_dynamodb
from scripts.operations import seed_data

from .support import TABLE, seed_rows


def write_file(tmp_path, content):
    path = tmp_path / "seed.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def table_items(dynamodb):
    pages = dynamodb.get_paginator("scan").paginate(TableName=TABLE)
    return {item["model_name"]: item for page in pages for item in map(item_from_dynamodb, page["Items"])}


def run(*arguments):
    return seed_data.main(["--table", TABLE, *map(str, arguments)])


def test_valid_file_is_written(dynamodb, tmp_path):
    assert run("--file", write_file(tmp_path, seed_rows(60))) == 0
    assert len(table_items(dynamodb)) == 60


def test_bundled_sample_catalogue_is_valid():
    items = seed_data.load_items(seed_data.DEFAULT_FILE)
    assert len(items) >= 30 and len({item["provider"] for item in items}) >= 5


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"model_name": "a"}',
        seed_rows(30) + [{"model_name": "bad", "provider": "x", "context_window": -1, "score": 1}],
        seed_rows(3) + seed_rows(1),
    ],
)
def test_invalid_file_writes_nothing(dynamodb, tmp_path, content, capsys):
    assert run("--file", write_file(tmp_path, content)) == 2
    assert table_items(dynamodb) == {}
    assert "error:" in capsys.readouterr().err


def test_bad_row_is_named_in_the_error(tmp_path):
    content = seed_rows(5) + [{"model_name": "bad-one", "provider": "x", "context_window": 1, "score": "high"}]
    with pytest.raises(seed_data.SeedFileError, match=r"row 6 \(model_name 'bad-one'\): score"):
        seed_data.load_items(write_file(tmp_path, content))


def test_rerun_is_idempotent(dynamodb, tmp_path):
    path = write_file(tmp_path, seed_rows(40))
    run("--file", path)
    first = table_items(dynamodb)
    assert run("--file", path) == 0
    assert table_items(dynamodb) == first


def test_newer_item_in_table_is_not_overwritten_by_older_row(dynamodb, tmp_path, capsys):
    run("--file", write_file(tmp_path, seed_rows(3, updated_at="2026-06-01T00:00:00Z", provider="New")))
    capsys.readouterr()
    older = seed_rows(3, updated_at="2026-01-01T00:00:00Z", provider="Old")
    assert run("--file", write_file(tmp_path, older)) == 0
    assert {item["provider"] for item in table_items(dynamodb).values()} == {"New"}
    assert "kept 3 newer" in capsys.readouterr().out


def test_force_overrides_newer_items(dynamodb, tmp_path):
    run("--file", write_file(tmp_path, seed_rows(3, updated_at="2026-06-01T00:00:00Z", provider="New")))
    run("--file", write_file(tmp_path, seed_rows(3, updated_at="2026-01-01T00:00:00Z", provider="Old")), "--force")
    assert {item["provider"] for item in table_items(dynamodb).values()} == {"Old"}


def test_seed_never_deletes_items_missing_from_the_file(dynamodb, tmp_path):
    run("--file", write_file(tmp_path, seed_rows(5)))
    run("--file", write_file(tmp_path, seed_rows(2)), "--force")
    assert len(table_items(dynamodb)) == 5


def test_interrupted_seed_completes_on_rerun(dynamodb, tmp_path):
    items = seed_data.load_items(write_file(tmp_path, seed_rows(200)))
    seed_data.seed(dynamodb, TABLE, items[:73])  # as if the first run died part-way
    assert run("--file", write_file(tmp_path, seed_rows(200))) == 0
    assert len(table_items(dynamodb)) == 200


def test_dry_run_validates_and_writes_nothing(dynamodb, tmp_path, capsys):
    assert run("--file", write_file(tmp_path, seed_rows(10)), "--dry-run") == 0
    assert table_items(dynamodb) == {}
    assert "10 valid item(s)" in capsys.readouterr().out


def test_missing_table_needs_create_table(dynamodb, tmp_path, capsys):
    path = write_file(tmp_path, seed_rows(2))
    assert seed_data.main(["--table", "other", "--file", str(path)]) == 2
    assert "--create-table" in capsys.readouterr().err
    assert seed_data.main(["--table", "other", "--file", str(path), "--create-table"]) == 0
    assert dynamodb.describe_table(TableName="other")["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def rows_with_numbers_dynamodb_refuses():
    """61 rows, as in the report: the 52nd has a score of 1e-200 and the 58th a benchmark of 1e200."""
    content = seed_rows(61)
    content[51]["score"] = 1e-200
    content[57]["benchmarks"] = {"mmlu": 1e200}
    return content


def test_dry_run_refuses_numbers_dynamodb_refuses(dynamodb, tmp_path, capsys):
    assert run("--file", write_file(tmp_path, rows_with_numbers_dynamodb_refuses()), "--dry-run") == 2
    error = capsys.readouterr().err
    assert "row 52 (model_name 'model-0051'): score" in error
    assert "row 58 (model_name 'model-0057'): benchmarks.mmlu" in error
    assert "nothing written" in error


@pytest.mark.parametrize("force", [False, True], ids=["conditional", "force"])
def test_real_run_with_numbers_dynamodb_refuses_writes_nothing(dynamodb, tmp_path, force):
    arguments = ["--file", write_file(tmp_path, rows_with_numbers_dynamodb_refuses())] + (["--force"] if force else [])
    assert run(*arguments) == 2
    assert table_items(dynamodb) == {}
