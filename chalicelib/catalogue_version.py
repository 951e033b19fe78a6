"""The catalogue version: one tiny item that every supported writer bumps after it writes.

Containers read it with one eventually consistent GetItem every few seconds (half a
read unit) and scan the table again only when it changed, so a reviewed data change is
served within seconds without every container scanning every few seconds. Writers that
do not bump it are still served within the cache's TTL.

It lives in the scores table itself, under a key no model can have (model names start
with a letter or digit, chalicelib/models.py), so it needs no second table, no second
IAM resource and no second place to back up. The API's scan filters that key out on the
server, so it is never served and never counted as a skipped row.
"""

from __future__ import annotations

from typing import Any

# Starts with "#", which no model_name may: it can never collide with a catalogue row.
VERSION_KEY = "#catalogue-version"
VERSION_ATTRIBUTE = "catalogue_version"
# The audit trail every supported write leaves on the rows it writes and on the version item:
# commit, run, actor and time. The API reads only its own fields (FIELD_ORDER), so it is never served.
WRITTEN_BY_ATTRIBUTE = "written_by"
# For the API's Scan: leaves the version item out on the server side.
SCAN_FILTER = {
    "FilterExpression": "#catalogue_key <> :catalogue_version_key",
    "ExpressionAttributeNames": {"#catalogue_key": "model_name"},
    "ExpressionAttributeValues": {":catalogue_version_key": {"S": VERSION_KEY}},
}


def read_version(client: Any, table_name: str) -> str | None:
    """The current version as text, or None when no writer has bumped it yet; client errors propagate.

    Eventually consistent on purpose: half the cost of a consistent read, and a bump missed by a
    lagging replica is seen by the next check a few seconds later.
    """
    response = client.get_item(
        TableName=table_name,
        Key={"model_name": {"S": VERSION_KEY}},
        ProjectionExpression="#version",
        ExpressionAttributeNames={"#version": VERSION_ATTRIBUTE},
    )
    value = response.get("Item", {}).get(VERSION_ATTRIBUTE, {}).get("N")
    return value if isinstance(value, str) else None


def bump_version(client: Any, table_name: str, written_by: dict[str, str]) -> str:
    """Adds one to the version (creating the item at 1) and records who bumped it; returns the new version."""
    response = client.update_item(
        TableName=table_name,
        Key={"model_name": {"S": VERSION_KEY}},
        UpdateExpression="ADD #version :one SET #written_by = :written_by",
        ExpressionAttributeNames={"#version": VERSION_ATTRIBUTE, "#written_by": WRITTEN_BY_ATTRIBUTE},
        ExpressionAttributeValues={":one": {"N": "1"}, ":written_by": written_by_attribute(written_by)},
        ReturnValues="UPDATED_NEW",
    )
    version: str = response["Attributes"][VERSION_ATTRIBUTE]["N"]
    return version


def written_by_attribute(written_by: dict[str, str]) -> dict[str, Any]:
    """The audit record as a DynamoDB map of strings."""
    return {"M": {key: {"S": value} for key, value in sorted(written_by.items())}}
