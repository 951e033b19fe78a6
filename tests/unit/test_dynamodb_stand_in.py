"""The benchmark's DynamoDB stand-in answers a whole-table Scan exactly as moto does: same items, same pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws
from moto.dynamodb.models import table as moto_table

from bench.dynamodb_stand_in import PAGE_SIZE_LIMIT, DynamoDBStandIn, item_size
from bench.items import generate_items
from chalicelib.models import Item, item_to_dynamodb, validate_item
from scripts.operations import seed_data

pytestmark = pytest.mark.unit

TABLE = "stand-in-parity"


def _largest_items(count: int) -> list[Item]:
    """Items near the catalogue's largest (64 benchmarks with long names): a few hundred fill a page."""
    return [
        validate_item(
            {
                "model_name": f"wide-{index:04d}-" + "x" * 100,
                "provider": "P" * 64,
                "version": "v" * 64,
                "context_window": 1 + index,
                "score": 12.5 + index,
                "benchmarks": {f"{'b' * 60}{number:04d}": number + 0.25 for number in range(64)},
            }
        )
        for index in range(count)
    ]


def _catalogue() -> list[Item]:
    # Two ordinary sizes and the largest items, interleaved by name, so page ends fall mid-catalogue.
    return generate_items(300) + _largest_items(700)


def _pages(client: Any, **request: Any) -> list[dict[str, Any]]:
    pages = []
    request = {"TableName": TABLE, **request}
    while True:
        page = client.scan(**request)
        pages.append({key: page.get(key) for key in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
        if "LastEvaluatedKey" not in page or request.get("Limit") == 1:
            return pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture
def stand_in() -> Iterator[DynamoDBStandIn]:
    server = DynamoDBStandIn.start()
    yield server
    server.stop()


def _stand_in_client(stand_in: DynamoDBStandIn) -> Any:
    return botocore.session.get_session().create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=stand_in.endpoint,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_stand_in_pages_a_scan_as_moto_does(stand_in: DynamoDBStandIn) -> None:
    items = _catalogue()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        seed_data.ensure_table(client, TABLE, create=True)
        for item in items:
            client.put_item(TableName=TABLE, Item=item_to_dynamodb(item))
        moto_pages = _pages(client)
        moto_probe = _pages(client, Limit=1, ProjectionExpression="#k", ExpressionAttributeNames={"#k": "model_name"})

    stand_in.create_table(TABLE, items)
    client = _stand_in_client(stand_in)
    ours = _pages(client)

    assert len(moto_pages) >= 3, "the catalogue must span several pages for the comparison to mean anything"
    assert ours == moto_pages
    assert _pages(client, Limit=1, ProjectionExpression="#k", ExpressionAttributeNames={"#k": "model_name"}) == (
        moto_probe
    )
    assert stand_in.table(TABLE).page_count == len(moto_pages)


def test_stand_in_pages_stay_within_the_size_moto_and_dynamodb_allow() -> None:
    assert PAGE_SIZE_LIMIT == moto_table.RESULT_SIZE_LIMIT
    stand_in = DynamoDBStandIn()
    stand_in.create_table(TABLE, generate_items(5000))
    table = stand_in.table(TABLE)
    assert table.page_count >= 2
    rows = iter(table.rows)
    for _start, body in table.pages.items():
        count = json.loads(body)["Count"]
        assert sum(item_size(next(rows)) for _ in range(count)) <= PAGE_SIZE_LIMIT


def test_stand_in_describes_its_tables_and_refuses_what_it_does_not_serve(stand_in: DynamoDBStandIn) -> None:
    stand_in.create_table(TABLE, generate_items(7))
    client = _stand_in_client(stand_in)
    description = client.describe_table(TableName=TABLE)["Table"]
    assert description["TableStatus"] == "ACTIVE" and description["ItemCount"] == 7
    name = stand_in.table(TABLE).rows[3]["model_name"]
    assert client.get_item(TableName=TABLE, Key={"model_name": name})["Item"]["model_name"] == name
    assert "Item" not in client.get_item(TableName=TABLE, Key={"model_name": {"S": "absent"}})
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.scan(TableName="no-such-table")
