"""The wire-format shortcut answers every row as `item_from_dynamodb` does; the lean client is botocore's."""

from __future__ import annotations

import copy
import os
import random
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest

from bench.dynamodb_stand_in import DynamoDBStandIn
from bench.items import generate_items
from chalicelib import dynamodb_model, dynamodb_wire
from chalicelib.models import InvalidItem, item_from_dynamodb, item_to_dynamodb

from .support import unit_settings

pytestmark = pytest.mark.unit

# Values that break, or nearly break, one rule each; every one is tried in every field.
TEXTS = [
    "",
    " ",
    " padded ",
    "a\x00b",
    "tab\there",
    "\x1c",
    "caf\u00e9",
    "\ud800",
    "x" * 64,
    "x" * 65,
    "x" * 128,
    "x" * 129,
    "a/b",
    "2024-02-30",
    "2024-02-29",
    "2024-13-01",
    "2024-05-13\n",
    "2025-01-31T12:00:00Z",
    "2025-01-31T12:00:00.999+01:00",
    "2025-01-31T12:00:00",
    "0001-01-01T00:00:00+01:00",
    "<b>&",
]
NUMBERS = [
    "0",
    "-0",
    "01",
    "1.5",
    "-3",
    "1e400",
    "1e-400",
    "1E-130",
    "1E-131",
    "9.9E125",
    "1E126",
    "nan",
    "inf",
    " 5",
    "1_000",
    "9007199254740991",
    "9007199254740992",
    "-9007199254740992",
    "8192.0",
    ".5",
    "5.",
]
FIELDS = ("model_name", "provider", "version", "release_date", "context_window", "score", "benchmarks", "updated_at")


def _variants(value: dict[str, Any]) -> Iterator[Any]:
    yield {"NULL": True}
    yield {"BOOL": True}
    yield {"S": 5}
    yield {"S": "x", "N": "1"}
    yield {"L": [{"N": "1"}]}
    yield {"B": "AAAA"}
    yield None
    yield "plain"
    for text in TEXTS:
        yield {"S": text}
    for number in NUMBERS:
        yield {"N": number}
    yield {"M": {"mmlu": {"N": "1"}, " ": {"N": "2"}}}
    yield {"M": {"mmlu": {"S": "1"}}}
    yield {"M": {f"b{index}": {"N": str(index)} for index in range(65)}}
    yield {"M": {"\x01": {"N": "1"}}}
    yield {"M": {"mmlu": {"N": "1e400"}}}
    yield {"M": []}
    yield {"M": {}}


def _answer(parse: Any, row: Any) -> tuple[str, Any]:
    try:
        return "item", parse(row)
    except InvalidItem as error:
        return "invalid", str(error)
    except Exception as error:  # the refresh counts these as skipped too; the reason must match
        return "error", f"{type(error).__name__}: {error}"


def _rows() -> Iterator[Any]:
    good = [item_to_dynamodb(item) for item in generate_items(40)]
    yield from good
    for row in good[:3]:
        for field in FIELDS:
            without = copy.deepcopy(row)
            without.pop(field, None)
            yield without
            for value in _variants(row.get(field, {})):
                changed = copy.deepcopy(row)
                changed[field] = value
                yield changed
    rng = random.Random(21)
    for _ in range(300):
        row = copy.deepcopy(rng.choice(good))
        for field in rng.sample(FIELDS, rng.randint(1, 3)):
            row[field] = rng.choice(list(_variants({})))
        yield row
    yield "not a map"
    yield {"other": {"SS": ["a"]}, **good[0]}


def test_every_row_gets_the_answer_item_from_dynamodb_gives() -> None:
    rows = list(_rows())
    for row in rows:
        # A parser that has seen the good rows first answers exactly as a fresh one does.
        for parser in (dynamodb_wire.WireParser(), dynamodb_wire._PARSER):
            assert _answer(parser.item, row) == _answer(item_from_dynamodb, row), row
    assert len(rows) > 1000


def test_good_rows_take_the_shortcut() -> None:
    parser = dynamodb_wire.WireParser()
    for item in generate_items(20):
        assert parser._fast(item_to_dynamodb(item)) == item


@pytest.fixture
def stand_in() -> Iterator[DynamoDBStandIn]:
    server = DynamoDBStandIn.start()
    server.create_table("wire", generate_items(6000))
    yield server
    server.stop()


def _client(endpoint: str, lean: bool) -> Any:
    session = botocore.session.get_session()
    if lean:
        session.register_component("data_loader", dynamodb_model.loader())
    client = session.create_client(
        "dynamodb", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s"
    )
    return dynamodb_wire.install(client) if lean else client


def _pages(client: Any) -> list[dict[str, Any]]:
    pages, request = [], {"TableName": "wire"}
    while True:
        page = client.scan(**request)
        page.pop("ResponseMetadata")
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            return pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_a_scan_read_past_the_parser_returns_what_botocore_would_have_parsed(stand_in: DynamoDBStandIn) -> None:
    ours, botocores = _pages(_client(stand_in.endpoint, lean=True)), _pages(_client(stand_in.endpoint, lean=False))
    assert len(ours) >= 2
    assert ours == botocores


def test_errors_are_still_parsed_by_botocore(stand_in: DynamoDBStandIn) -> None:
    client = _client(stand_in.endpoint, lean=True)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.scan(TableName="missing")


def test_trimmed_model_files_match_the_installed_botocore() -> None:
    for relative, content in dynamodb_model.generated_files().items():
        with open(os.path.join(dynamodb_model.DATA_DIRECTORY, relative), encoding="utf-8") as file:
            assert file.read() == content, f"{relative} is stale: run python -m chalicelib.dynamodb_model"


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1", "ap-southeast-5"])
def test_lean_client_resolves_the_endpoints_and_shapes_botocore_does(region: str) -> None:
    def client(lean: bool) -> Any:
        session = botocore.session.get_session()
        if lean:
            session.register_component("data_loader", dynamodb_model.loader())
        return session.create_client("dynamodb", region_name=region, aws_access_key_id="k", aws_secret_access_key="s")

    lean, default = client(True), client(False)
    assert lean.meta.endpoint_url == default.meta.endpoint_url
    assert lean.meta.region_name == default.meta.region_name
    for operation in dynamodb_model.OPERATIONS:
        ours, theirs = (c.meta.service_model.operation_model(operation) for c in (lean, default))
        assert ours.input_shape.members.keys() == theirs.input_shape.members.keys()
        assert ours.output_shape.members.keys() == theirs.output_shape.members.keys()
        assert {error.name for error in ours.error_shapes} == {error.name for error in theirs.error_shapes}


def test_an_items_served_text_is_json_text_whether_or_not_it_needs_html_escaping() -> None:
    from chalicelib.encoding import json_text
    from chalicelib.snapshot import item_text

    items = generate_items(5) + [{"model_name": "a", "provider": "<b> & </b>", "note": "caf\u00e9 \U0001f600"}]
    for item in items:
        assert item_text(item) == json_text(item)


def test_a_trimmed_model_that_will_not_load_falls_back_to_botocores_with_one_json_warning(
    monkeypatch: pytest.MonkeyPatch, log_lines
) -> None:
    # A runtime botocore that reads the shipped model files differently must cost a warning, never a cold start.
    from botocore.exceptions import DataNotFoundError
    from botocore.loaders import Loader

    from chalicelib import repository

    class UnreadableModels(Loader):
        def load_service_model(self, *args: object, **kwargs: object) -> object:
            raise DataNotFoundError(data_path="dynamodb")

    monkeypatch.setattr(repository, "trimmed_loader", UnreadableModels)
    client = repository.create_client(unit_settings())
    assert client.meta.service_model.service_name == "dynamodb"
    assert "describe_backup" in dir(client)  # botocore's full model, not the trimmed one
    (warning,) = log_lines()
    assert warning["level"] == "WARNING" and warning["message"].startswith("trimmed DynamoDB model not loaded")
