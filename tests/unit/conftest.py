"""Unit-test fixtures: moto's in-process DynamoDB, a fresh cache per test, and the Chalice test client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import service
from chalicelib.models import item_to_dynamodb
from chalicelib.service import ScoresService
from scripts.operations import seed_data

from .support import TABLE, unit_settings


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """An empty scores table in moto's in-process DynamoDB."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        seed_data.ensure_table(client, TABLE, create=True)
        yield client


@pytest.fixture
def put_items(dynamodb: Any):
    def put(*items: dict[str, Any]) -> None:
        for item in items:
            dynamodb.put_item(TableName=TABLE, Item=item_to_dynamodb(item))

    return put


@pytest.fixture
def use_service() -> Iterator[Callable[[ScoresService], ScoresService]]:
    """Makes the routes use a given service for one test, then puts the previous one back."""
    previous: list[ScoresService | None] = []

    def use(candidate: ScoresService) -> ScoresService:
        previous.append(service.replace_service(candidate))
        return candidate

    yield use
    if previous:
        service.replace_service(previous[0])


@pytest.fixture
def fresh_service(dynamodb: Any, use_service: Callable[[ScoresService], ScoresService]) -> ScoresService:
    """The service over the moto table with an empty cache, as a new container would start."""
    return use_service(ScoresService.from_settings(unit_settings()))


@pytest.fixture
def api(fresh_service: ScoresService) -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="dev") as client:
        yield client


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch):
    """The service's log output, one parsed JSON object per line, as CloudWatch would receive it."""
    import io
    import json

    from chalicelib.observability import log_handler, metrics

    metrics.take()  # metrics batched by earlier tests belong to them, not to this test's lines
    buffer = io.StringIO()
    previous = log_handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    finally:
        log_handler.setStream(previous)
