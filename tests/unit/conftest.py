"""Unit-test fixtures: moto's in-process DynamoDB, a fresh cache per test, and the Chalice test client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import service
from chalicelib.cache import SnapshotCache
from chalicelib.config import Settings
from chalicelib.models import item_to_dynamodb, validate_item
from chalicelib.repository import ScoresRepository, create_client

TABLE = "llm_scores-test"


def make_item(name: str, **fields: Any) -> dict[str, Any]:
    item = {"model_name": name, "provider": "Acme", "context_window": 8192, "score": 50.0}
    item.update(fields)
    return validate_item(item)


def create_table(client: Any, table: str = TABLE) -> None:
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "model_name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "model_name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """An empty scores table in moto's in-process DynamoDB."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client)
        yield client


@pytest.fixture
def put_items(dynamodb: Any):
    def put(*items: dict[str, Any]) -> None:
        for item in items:
            dynamodb.put_item(TableName=TABLE, Item=item_to_dynamodb(item))

    return put


@pytest.fixture
def fresh_service(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> ScoresRepository:
    """Points the service at the moto table with an empty cache, as a new container would start."""
    settings = Settings.from_environment({"TABLE_NAME": TABLE})
    repository = ScoresRepository(create_client(settings), TABLE)
    cache = SnapshotCache(
        repository.scan_all,
        ttl_seconds=300,
        jitter_ratio=0.1,
        max_stale_seconds=3600,
        retry_after_seconds=5,
    )
    monkeypatch.setattr(service, "repository", repository)
    monkeypatch.setattr(service, "cache", cache)
    return repository


@pytest.fixture
def api(fresh_service: ScoresRepository) -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="dev") as client:
        yield client


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch):
    """The service's log output, one parsed JSON object per line, as CloudWatch would receive it."""
    import io
    import json

    from chalicelib.observability import logger

    buffer = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    finally:
        handler.setStream(previous)
