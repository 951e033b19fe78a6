"""The proof of concept this service replaces, re-created as the benchmark's baseline.

A plain Lambda handler in the style the PoC used: `boto3.resource` at module
level, a full table `Scan` on every request, Decimals turned back into numbers
and the answer re-serialised with `json.dumps` per request, no cache.

One deliberate difference, to keep the comparison fair to the baseline: the PoC
read only the first `Scan` page (1 MB) and silently dropped the rest; this copy
follows `LastEvaluatedKey`, so both sides return the same items. It answers the
same routes and query parameters with the same defaults (limit 100), so response
sizes compare like for like.
"""

from __future__ import annotations

import json
import logging
import os
from decimal import Decimal
from typing import Any

import boto3

logger = logging.getLogger("poc")
logger.setLevel(logging.INFO)

table = boto3.resource("dynamodb").Table(os.environ.get("TABLE_NAME", "llm_scores"))


def _plain_number(value: Any) -> int | float:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _scan_all() -> list[dict[str, Any]]:
    response = table.scan()
    items: list[dict[str, Any]] = response["Items"]
    while "LastEvaluatedKey" in response:
        response = table.scan(ExclusiveStartKey=response["LastEvaluatedKey"])
        items.extend(response["Items"])
    return items


def _answer(status: int, payload: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(payload, default=_plain_number),
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway REST proxy handler for `/llms` and `/llms/{model_name}`."""
    items = _scan_all()
    query = event.get("queryStringParameters") or {}
    model_name = (event.get("pathParameters") or {}).get("model_name")
    if model_name is not None:
        found = [item for item in items if item["model_name"] == model_name]
        logger.info("GET %s -> %d item(s) request_id=%s", event.get("path"), len(found), context.aws_request_id)
        return _answer(200, found[0]) if found else _answer(404, {"error": "not found"})
    provider = query.get("provider")
    if provider:
        items = [item for item in items if item["provider"].lower() == provider.lower()]
    sort = query.get("sort", "model_name")
    descending = query.get("order", "asc") == "desc"
    present = sorted((item for item in items if sort in item), key=lambda item: item[sort], reverse=descending)
    ordered = present + [item for item in items if sort not in item]
    page = ordered[: int(query.get("limit", 100))]
    logger.info("GET %s -> %d item(s) request_id=%s", event.get("path"), len(page), context.aws_request_id)
    return _answer(200, {"items": page, "count": len(page)})
