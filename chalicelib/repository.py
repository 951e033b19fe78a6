"""DynamoDB access: one low-level client with bounded timeouts, a paginated scan, and a one-row probe.

The low-level client, created straight from botocore (not `boto3.resource`, nor
boto3 itself, whose import pulls in s3transfer), keeps cold start down, and explicit
timeouts with `standard` retries make a dead DynamoDB answer in about two seconds
rather than the SDK default of a minute. Those bound each call; the whole scan is
bounded by its caller's deadline (chalicelib/deadline.py), checked between pages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import deadline
from chalicelib.config import Settings
from chalicelib.models import InvalidItem, Item, item_from_dynamodb


class DynamoDBUnavailable(Exception):
    """DynamoDB could not be read within the configured timeouts and retries."""


# Enough to find the rows to fix, while one bad bulk write can't make a log line megabytes long.
MAX_REPORTED_SKIPS = 20


@dataclass(frozen=True)
class SkippedItem:
    """One row the API could not serve: its key as stored, and why."""

    key: str
    reason: str


@dataclass(frozen=True)
class ScanResult:
    """The whole table, read page by page, with the items that failed to parse left out."""

    items: list[Item]
    skipped_items: int
    pages: int
    duration_milliseconds: float
    # The first MAX_REPORTED_SKIPS of the skipped rows, for the refresh's log line.
    skipped: tuple[SkippedItem, ...] = ()


def _stored_key(attributes: Any) -> str:
    """The row's key as it is stored, whatever its type, for an operator to look up."""
    try:
        value = attributes.get("model_name")
        text = value.get("S") if isinstance(value, dict) else None
        if isinstance(text, str):
            return text[:200]
        return repr(value)[:200]
    except Exception:  # a row that is not even a map still gets a line in the log
        return "<unreadable>"


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
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__


class ScoresRepository:
    """Reads the scores table. Every failure surfaces as `DynamoDBUnavailable`."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    def scan_all(self) -> ScanResult:
        """Reads every item, following each `LastEvaluatedKey`; unparseable items are counted, not fatal."""
        started = time.perf_counter()
        items: list[Item] = []
        skipped: list[SkippedItem] = []
        pages = 0
        request: dict[str, Any] = {"TableName": self.table_name}
        try:
            while True:
                # A refresh that ran out of time stops here: its caller has already answered without it.
                deadline.check(f"{pages} page{'' if pages == 1 else 's'}")
                page = self.client.scan(**request)
                pages += 1
                for attributes in page.get("Items", ()):
                    try:
                        items.append(item_from_dynamodb(attributes))
                    except Exception as error:  # one bad row, whatever it breaks, costs only itself
                        reason = str(error) if isinstance(error, InvalidItem) else f"{type(error).__name__}: {error}"
                        skipped.append(SkippedItem(_stored_key(attributes), reason[:300]))
                last_key = page.get("LastEvaluatedKey")
                if not last_key:
                    break
                request["ExclusiveStartKey"] = last_key
        except (BotoCoreError, ClientError) as error:
            raise DynamoDBUnavailable(f"scan of {self.table_name} failed: {_describe_failure(error)}") from error
        duration = (time.perf_counter() - started) * 1000
        return ScanResult(items, len(skipped), pages, duration, tuple(skipped[:MAX_REPORTED_SKIPS]))

    def probe(self) -> None:
        """Reads one key through the data plane, as the API's own reads do; `DynamoDBUnavailable` if it can't.

        A Scan, not DescribeTable: a revoked `dynamodb:Scan`, a disabled KMS key or throttling stop
        every read while the table still describes itself as ACTIVE.
        """
        try:
            self.client.scan(
                TableName=self.table_name,
                Limit=1,
                ProjectionExpression="#key",
                ExpressionAttributeNames={"#key": "model_name"},
            )
        except (BotoCoreError, ClientError) as error:
            raise DynamoDBUnavailable(f"probe of {self.table_name} failed: {_describe_failure(error)}") from error
