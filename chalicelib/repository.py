"""DynamoDB access: one low-level client with bounded timeouts, a paginated scan, and a table check.

The low-level client, created straight from botocore (not `boto3.resource`, nor
boto3 itself, whose import pulls in s3transfer), keeps cold start down, and explicit
timeouts with `standard` retries make a dead DynamoDB answer in about two seconds
rather than the SDK default of a minute.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings
from chalicelib.models import InvalidItem, Item, item_from_dynamodb


class DynamoDBUnavailable(Exception):
    """DynamoDB could not be read within the configured timeouts and retries."""


@dataclass(frozen=True)
class ScanResult:
    """The whole table, read page by page, with the items that failed to parse left out."""

    items: list[Item]
    skipped_items: int
    pages: int
    duration_milliseconds: float


def create_client(settings: Settings) -> Any:
    """Creates the DynamoDB client; `AWS_ENDPOINT_URL_DYNAMODB` is honoured by botocore itself."""
    return botocore.session.get_session().create_client(
        "dynamodb",
        region_name=settings.aws_region,
        config=Config(
            connect_timeout=settings.dynamodb_connect_timeout_seconds,
            read_timeout=settings.dynamodb_read_timeout_seconds,
            retries={"mode": "standard", "total_max_attempts": settings.dynamodb_max_attempts},
            tcp_keepalive=True,
        ),
    )


def _describe_failure(error: Exception) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "ClientError")
    return type(error).__name__


class ScoresRepository:
    """Reads the scores table. Every failure surfaces as `DynamoDBUnavailable`."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    def scan_all(self) -> ScanResult:
        """Reads every item, following each `LastEvaluatedKey`; unparseable items are counted, not fatal."""
        started = time.perf_counter()
        items: list[Item] = []
        skipped = 0
        pages = 0
        request: dict[str, Any] = {"TableName": self.table_name}
        try:
            while True:
                page = self._client.scan(**request)
                pages += 1
                for attributes in page.get("Items", ()):
                    try:
                        items.append(item_from_dynamodb(attributes))
                    except InvalidItem:
                        skipped += 1
                last_key = page.get("LastEvaluatedKey")
                if not last_key:
                    break
                request["ExclusiveStartKey"] = last_key
        except (BotoCoreError, ClientError) as error:
            raise DynamoDBUnavailable(f"scan of {self.table_name} failed: {_describe_failure(error)}") from error
        return ScanResult(items, skipped, pages, (time.perf_counter() - started) * 1000)

    def check_table(self) -> None:
        """Confirms the table answers and is usable, without reading items or consuming capacity."""
        try:
            status = self._client.describe_table(TableName=self.table_name)["Table"]["TableStatus"]
        except (BotoCoreError, ClientError) as error:
            raise DynamoDBUnavailable(f"table {self.table_name} unreachable: {_describe_failure(error)}") from error
        if status not in {"ACTIVE", "UPDATING"}:
            raise DynamoDBUnavailable(f"table {self.table_name} is {status}")
