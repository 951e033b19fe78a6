"""Seeding safety cases beyond tests/unit/test_seed_data.py: a real mid-run failure, rows without
`updated_at`, other writers' attributes, and `--force` never bypassing validation."""

import json

import pytest

from chalicelib.models import item_to_dynamodb, validate_item
from scripts import seed_data

from .conftest import TABLE
from .test_seed_data import rows


def raw_items(dynamodb):
    pages = dynamodb.get_paginator("scan").paginate(TableName=TABLE)
    return {item["model_name"]["S"]: item for page in pages for item in page["Items"]}


class FailingAfter:
    """Delegates to a real client, then fails every write after `limit` of them, as a dropped network would."""

    def __init__(self, client, limit):
        self._client = client
        self._left = limit
        self.exceptions = client.exceptions

    def put_item(self, **arguments):
        if self._left <= 0:
            raise ConnectionError("connection reset mid-seed")
        self._left -= 1
        return self._client.put_item(**arguments)


def test_seed_that_dies_part_way_is_finished_by_a_rerun_without_losing_newer_edits(dynamodb, tmp_path):
    items = seed_data.load_items(_file(tmp_path, rows(300)))
    with pytest.raises(ConnectionError):
        seed_data.seed(FailingAfter(dynamodb, 120), TABLE, items, workers=4)
    partial = raw_items(dynamodb)
    assert 0 < len(partial) < 300
    # Between the two runs someone edits an item the first run wrote, and one it never reached.
    edited = validate_item(
        {**rows(1)[0], "model_name": "model-0000", "provider": "Edited", "updated_at": "2026-09-01T00:00:00Z"}
    )
    unreached = next(item for item in items if item["model_name"] not in partial)
    edited_unreached = validate_item({**unreached, "provider": "Edited", "updated_at": "2026-09-01T00:00:00Z"})
    for item in (edited, edited_unreached):
        dynamodb.put_item(TableName=TABLE, Item=item_to_dynamodb(item))

    report = seed_data.seed(dynamodb, TABLE, items)
    final = raw_items(dynamodb)
    assert len(final) == 300
    assert final["model-0000"]["provider"] == {"S": "Edited"}
    assert final[unreached["model_name"]]["provider"] == {"S": "Edited"}
    assert report.kept_newer == 2


def test_row_without_updated_at_never_replaces_an_item_that_has_one(dynamodb, tmp_path):
    assert seed_data.main(["--table", TABLE, "--file", str(_file(tmp_path, rows(3, provider="Dated")))]) == 0
    assert seed_data.main(["--table", TABLE, "--file", str(_file(tmp_path, rows(3, updated_at=None)))]) == 0
    assert {item["provider"]["S"] for item in raw_items(dynamodb).values()} == {"Dated"}


def test_attributes_added_by_other_writers_survive_a_seed_of_older_rows(dynamodb, tmp_path):
    item = item_to_dynamodb(validate_item(rows(1, updated_at="2026-06-01T00:00:00Z")[0]))
    item["internal_note"] = {"S": "added by another job"}
    dynamodb.put_item(TableName=TABLE, Item=item)
    seed_data.main(["--table", TABLE, "--file", str(_file(tmp_path, rows(1, updated_at="2026-01-01T00:00:00Z")))])
    assert raw_items(dynamodb)["model-0000"]["internal_note"] == {"S": "added by another job"}


def test_force_never_writes_an_invalid_file(dynamodb, tmp_path):
    bad = rows(10) + [{"model_name": "bad", "provider": "x", "context_window": 0, "score": 1}]
    assert seed_data.main(["--table", TABLE, "--file", str(_file(tmp_path, bad)), "--force"]) == 2
    assert raw_items(dynamodb) == {}


def _file(tmp_path, content):
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(content))
    return path
