"""DynamoDB access: one low-level client with bounded timeouts, a paginated scan, and a one-row probe.

The low-level client, created straight from botocore (not `boto3.resource`, nor
boto3 itself, whose import pulls in s3transfer), keeps cold start down, and explicit
timeouts with `standard` retries make a dead DynamoDB answer in about two seconds
rather than the SDK default of a minute. Those bound each call; the whole scan is
bounded by its caller's deadline (chalicelib/deadline.py), checked between pages.

The client is built from a service model trimmed to Scan (chalicelib/dynamodb_model.py)
and reads Scan pages from the wire format straight into served items
(chalicelib/dynamodb_wire.py): together most of a cold start's client cost and most of a
large refresh ([decision 0015](../docs/decisions/0015-lean-dynamodb-client.md)).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.loaders import Loader
from botocore.session import get_session

from chalicelib import catalogue_version, deadline, dynamodb_wire
from chalicelib.config import Settings
from chalicelib.dynamodb_wire import item_from_wire as item_from_dynamodb  # models' answer, faster for good rows
from chalicelib.models import InvalidItem, Item


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


# botocore's data for a DynamoDB client, cut to the operations the API sends (built by chalicelib/dynamodb_model.py).
TRIMMED_DATA_DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "botocore_data")


def trimmed_loader() -> Loader:
    """A botocore Loader that finds nothing but the trimmed DynamoDB data: no other service's files to list or read."""
    return Loader(extra_search_paths=[TRIMMED_DATA_DIRECTORY], include_default_search_paths=False)


def create_client(settings: Settings) -> Any:
    """Creates the DynamoDB client; `AWS_ENDPOINT_URL_DYNAMODB` is honoured by botocore itself.

    From the trimmed model when the runtime's botocore can load it, from botocore's own
    data otherwise: the same client either way, only slower to build.
    """
    config = Config(
        connect_timeout=settings.dynamodb_connect_timeout_seconds,
        read_timeout=settings.dynamodb_read_timeout_seconds,
        retries={"mode": "standard", "total_max_attempts": settings.dynamodb_max_attempts},
        tcp_keepalive=True,
    )
    session = get_session()
    try:
        session.register_component("data_loader", trimmed_loader())
        client = session.create_client("dynamodb", region_name=settings.aws_region, config=config)
    except BotoCoreError as error:  # e.g. a runtime botocore that reads these files differently
        # A child of the service's logger (chalicelib/observability.py), so the warning is a JSON line like the rest.
        logging.getLogger("llm-scores.repository").warning(
            "trimmed DynamoDB model not loaded (%s); using botocore's", error
        )
        session = get_session()
        client = session.create_client("dynamodb", region_name=settings.aws_region, config=config)
    return dynamodb_wire.install(client)


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
        # The catalogue version item shares the table; filtered on the server, it is never served nor skipped.
        request: dict[str, Any] = {"TableName": self.table_name, **catalogue_version.SCAN_FILTER}
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
