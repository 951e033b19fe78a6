"""Seeding safety cases beyond tests/unit/test_seed_data.py: a real mid-run failure, rows without
`updated_at`, other writers' attributes, and `--force` never bypassing validation."""

import json

import pytest

from chalicelib.models import item_to_dynamodb, validate_item
from scripts.operations import seed_data

from .support import TABLE, seed_rows


def raw_items(dynamodb):
    pages = dynamodb.get_paginator("scan").paginate(TableName=TABLE)
    return {item["model_name"]["S"]: item for page in pages for item in page["Items"]}


class FailingAfter:
    """Delegates to a real client, then fails every write after `limit` of them, as a dropped network would."""

    def __init__(self, client, limit):
        self._client = client
        self._left = limit
        self.exceptions = client.exceptions

    def get_item(self, **arguments):
        return self._client.get_item(**arguments)

    def update_item(self, **arguments):
        if self._left <= 0:
            raise ConnectionError("connection reset mid-seed")
        self._left -= 1
        return self._client.update_item(**arguments)


def test_seed_that_dies_part_way_is_finished_by_a_rerun_without_losing_newer_edits(dynamodb, tmp_path):
    items = seed_data.load_items(_file(tmp_path, seed_rows(300)))
    with pytest.raises(ConnectionError):
        seed_data.seed(FailingAfter(dynamodb, 120), TABLE, items, workers=4)
    partial = raw_items(dynamodb)
    assert 0 < len(partial) < 300
    # Between the two runs someone edits an item the first run wrote, and one it never reached.
    edited = validate_item(
        {**seed_rows(1)[0], "model_name": "model-0000", "provider": "Edited", "updated_at": "2026-09-01T00:00:00Z"}
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
    assert seed_data.main(["--table", TABLE, "--file", str(_file(tmp_path, seed_rows(3, provider="Dated")))]) == 0
    assert seed_data.main(["--table", TABLE, "--file", str(_file(tmp_path, seed_rows(3, updated_at=None)))]) == 0
    assert {item["provider"]["S"] for item in raw_items(dynamodb).values()} == {"Dated"}


def test_attributes_added_by_other_writers_survive_a_seed_of_older_rows(dynamodb, tmp_path):
    item = item_to_dynamodb(validate_item(seed_rows(1, updated_at="2026-06-01T00:00:00Z")[0]))
    item["internal_note"] = {"S": "added by another job"}
    dynamodb.put_item(TableName=TABLE, Item=item)
    seed_data.main(["--table", TABLE, "--file", str(_file(tmp_path, seed_rows(1, updated_at="2026-01-01T00:00:00Z")))])
    assert raw_items(dynamodb)["model-0000"]["internal_note"] == {"S": "added by another job"}


def test_force_never_writes_an_invalid_file(dynamodb, tmp_path):
    bad = seed_rows(10) + [{"model_name": "bad", "provider": "x", "context_window": 0, "score": 1}]
    assert seed_data.main(["--table", TABLE, "--file", str(_file(tmp_path, bad)), "--force"]) == 2
    assert raw_items(dynamodb) == {}


def _file(tmp_path, content):
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("stored", "row", "kept"),
    [
        # Year 999, which the old normalisation wrote as "999-…" and so sorted after 2025.
        ("0999-01-01T00:00:00Z", "2025-01-01T00:00:00Z", False),
        # 09:00+09:00 is midnight UTC: older than the row's 00:30Z, though later as text.
        ("2025-01-01T09:00:00+09:00", "2025-01-01T00:30:00Z", False),
        ("2025-01-01T10:00:00+09:00", "2025-01-01T00:30:00Z", True),
        # A fraction sorts before "Z" in text, yet 00:00:01.5 is after 00:00:01.
        ("2025-01-01T00:00:01.500Z", "2025-01-01T00:00:00Z", True),
        ("2025-01-01T00:00:00Z", "2025-01-01T00:00:01.500Z", False),
        # A value no one can date is kept rather than risk losing a newer edit.
        ("last tuesday", "2025-01-01T00:00:00Z", True),
    ],
)
def test_updated_at_is_compared_as_instants_not_text(dynamodb, tmp_path, stored, row, kept):
    item = item_to_dynamodb(validate_item({**seed_rows(1)[0], "provider": "Stored"}))
    item["updated_at"] = {"S": stored}
    dynamodb.put_item(TableName=TABLE, Item=item)
    report = seed_data.seed(dynamodb, TABLE, seed_data.load_items(_file(tmp_path, seed_rows(1, updated_at=row))))
    assert report.kept_newer == int(kept)
    provider = raw_items(dynamodb)["model-0000"]["provider"]["S"]
    assert provider == ("Stored" if kept else "Acme")


def test_attributes_added_by_other_writers_survive_a_seed_of_newer_rows(dynamodb, tmp_path):
    item = item_to_dynamodb(validate_item({**seed_rows(1, updated_at="2026-01-01T00:00:00Z")[0], "version": "v1"}))
    item["internal_note"] = {"S": "added by another job"}
    dynamodb.put_item(TableName=TABLE, Item=item)
    seed_data.main(["--table", TABLE, "--file", str(_file(tmp_path, seed_rows(1, updated_at="2026-06-01T00:00:00Z")))])
    stored = raw_items(dynamodb)["model-0000"]
    assert stored["internal_note"] == {"S": "added by another job"}
    assert stored["updated_at"] == {"S": "2026-06-01T00:00:00Z"}
    assert "version" not in stored, "a served field the row no longer has is removed, not left stale"


@pytest.mark.parametrize(
    "timestamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00", "2025-02-30T00:00:00Z", "soon"]
)
def test_a_timestamp_that_cannot_be_normalised_is_an_invalid_row(dynamodb, tmp_path, capsys, timestamp):
    assert seed_data.main(["--table", TABLE, "--file", str(_file(tmp_path, seed_rows(2, updated_at=timestamp)))]) == 2
    error = capsys.readouterr().err
    assert "row 1" in error and "updated_at" in error and "Traceback" not in error
    assert raw_items(dynamodb) == {}


def test_force_stops_after_bounded_unprocessed_retries_with_a_clear_error():
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("dynamodb", region_name="us-east-1")
    items = [validate_item(row) for row in seed_rows(3)]
    requests = [{"PutRequest": {"Item": item_to_dynamodb(item)}} for item in items]
    with Stubber(client) as stubber:
        for _ in range(seed_data.MAX_BATCH_ATTEMPTS):
            stubber.add_response("batch_write_item", {"UnprocessedItems": {TABLE: requests}})
        with pytest.raises(seed_data.SeedError, match="3 item\\(s\\) unprocessed after 8 attempts"):
            seed_data.write_batch(client, TABLE, items, sleep=lambda _: None)
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("stored", "row", "kept", "stored_after"),
    [
        # The same second, whatever the fractions: one version as far as the catalogue can tell, so the
        # row is written, as for equal timestamps, and the table then holds what the API serves.
        ("2025-01-01T00:00:00.900Z", "2025-01-01T00:00:00.300Z", False, "2025-01-01T00:00:00Z"),
        ("2025-01-01T00:00:00.300Z", "2025-01-01T00:00:00.900Z", False, "2025-01-01T00:00:00Z"),
        ("2025-01-01T00:00:00.500Z", "2025-01-01T00:00:00Z", False, "2025-01-01T00:00:00Z"),
        # Truncation never moves the row into the next second: .999 is still older than 00:00:01.
        ("2025-01-01T00:00:01Z", "2025-01-01T00:00:00.999Z", True, "2025-01-01T00:00:01Z"),
        ("2025-01-01T00:00:01.001Z", "2025-01-01T00:00:00.999Z", True, "2025-01-01T00:00:01.001Z"),
    ],
)
def test_timestamps_in_the_same_second_compare_equal_as_they_are_stored(
    dynamodb, tmp_path, stored, row, kept, stored_after
):
    item = item_to_dynamodb(validate_item({**seed_rows(1)[0], "provider": "Stored"}))
    item["updated_at"] = {"S": stored}
    dynamodb.put_item(TableName=TABLE, Item=item)
    report = seed_data.seed(dynamodb, TABLE, seed_data.load_items(_file(tmp_path, seed_rows(1, updated_at=row))))
    assert report.kept_newer == int(kept)
    after = raw_items(dynamodb)["model-0000"]
    assert after["provider"]["S"] == ("Stored" if kept else "Acme")
    assert after["updated_at"] == {"S": stored_after}


def test_rerun_of_a_file_with_millisecond_timestamps_writes_whole_seconds_and_changes_nothing(dynamodb, tmp_path):
    path = _file(tmp_path, seed_rows(3, updated_at="2025-01-31T12:00:00.123Z"))
    assert seed_data.main(["--table", TABLE, "--file", str(path)]) == 0
    first = raw_items(dynamodb)
    assert {item["updated_at"]["S"] for item in first.values()} == {"2025-01-31T12:00:00Z"}
    assert seed_data.main(["--table", TABLE, "--file", str(path)]) == 0
    # The rerun is a write, so its provenance (`written_by`, stamped to the second) may move on; the data may not.
    assert _without_provenance(raw_items(dynamodb)) == _without_provenance(first)


def _without_provenance(items: dict) -> dict:
    return {key: {name: value for name, value in item.items() if name != "written_by"} for key, item in items.items()}


def test_a_row_with_a_lone_surrogate_is_an_invalid_row_and_nothing_is_written(dynamodb, tmp_path, capsys):
    content = seed_rows(3) + [{**seed_rows(1)[0], "model_name": "model-0003", "provider": "Open\ud800AI"}]
    assert seed_data.main(["--table", TABLE, "--file", str(_file(tmp_path, content))]) == 2
    assert "row 4" in capsys.readouterr().err
    assert raw_items(dynamodb) == {}
