"""The floor: the least a Chalice app can do to serve this API, for cold starts to be measured against.

It imports chalice and boto3, builds a DynamoDB client at import, reads the whole table once
(the Scan paginator and boto3's TypeDeserializer), encodes the listing once and answers every
request, whatever its path or query, with those bytes. No validation, no headers beyond the
content type, no logs, no metrics, no cache expiry: anything the service does on its cold path
beyond this is the service's own cost.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from chalice.app import Chalice, Response

client = boto3.client("dynamodb")
app = Chalice(app_name="floor", configure_logs=False)
_listing: str | None = None


def _number(value: Any) -> int | float:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _read_listing() -> str:
    deserializer = TypeDeserializer()
    items = [
        {name: deserializer.deserialize(value) for name, value in row.items()}
        for page in client.get_paginator("scan").paginate(TableName=os.environ["TABLE_NAME"])
        for row in page["Items"]
    ]
    return json.dumps({"items": items, "count": len(items)}, default=_number)


def _answer() -> Response:
    global _listing
    if _listing is None:
        _listing = _read_listing()
    return Response(body=_listing, headers={"Content-Type": "application/json"})


@app.route("/llms")
def list_llms() -> Response:
    return _answer()


@app.route("/llms/{model_name}")
def get_llm(model_name: str) -> Response:
    return _answer()
