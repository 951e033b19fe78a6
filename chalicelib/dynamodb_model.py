"""The DynamoDB client's botocore data, trimmed to what the API calls and loaded by botocore's own Loader.

Building a client from botocore's defaults reads and decodes its whole DynamoDB model (57
operations, gzipped), the endpoint data of every AWS service (endpoints.json, 1.2 MB) and lists
the ~400 service directories twice to find the model: about 55 ms of every cold start on the
development machine, for a client that only ever sends Scan. `DATA_DIRECTORY` holds the same
files botocore would load, cut to the Scan operation (with the shapes it reaches, documentation
dropped) and to DynamoDB's endpoints, uncompressed. A `botocore.loaders.Loader` searching only
that directory builds the identical client in about 11 ms (`make bench`, init row).

The files come from the installed botocore, by `python -m chalicelib.dynamodb_model`, and
`tests/unit/test_dynamodb_model.py` fails when they no longer match it. If the runtime's
botocore cannot load them, `chalicelib.repository.create_client` falls back to its defaults.
"""

from __future__ import annotations

import os
from typing import Any

from chalicelib.repository import TRIMMED_DATA_DIRECTORY as DATA_DIRECTORY
from chalicelib.repository import trimmed_loader as loader

SERVICE = "dynamodb"
API_VERSION = "2012-08-10"
# Every operation the API sends (the refresh's Scan, the health check's one-row Scan probe and the
# catalogue version's GetItem, chalicelib/catalogue_version.py), and DescribeTable, which operators
# and tests ask of the same client to tell an outage from a refusal.
OPERATIONS = ("DescribeTable", "GetItem", "Scan")
# What botocore loads, besides the service's own files, to build any client.
SHARED_FILES = ("_retry.json", "partitions.json", "sdk-default-configuration.json")
__all__ = ["DATA_DIRECTORY", "OPERATIONS", "generated_files", "loader", "trim_endpoints", "trim_service_model"]


def _without_documentation(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_documentation(inner) for key, inner in value.items() if key != "documentation"}
    if isinstance(value, list):
        return [_without_documentation(inner) for inner in value]
    return value


def trim_service_model(model: dict[str, Any], operations: tuple[str, ...] = OPERATIONS) -> dict[str, Any]:
    """`model` (a service-2 document) with only `operations` and the shapes they reach, without documentation."""
    kept = {name: model["operations"][name] for name in operations}
    shapes: dict[str, Any] = {}
    pending = [
        reference["shape"]
        for operation in kept.values()
        for reference in [operation.get("input"), operation.get("output"), *operation.get("errors", [])]
        if reference
    ]
    while pending:
        name = pending.pop()
        if name in shapes:
            continue
        shape = shapes[name] = model["shapes"][name]
        pending += [shape[key]["shape"] for key in ("member", "key", "value") if key in shape]
        pending += [member["shape"] for member in shape.get("members", {}).values()]
    trimmed = {key: value for key, value in model.items() if key not in ("operations", "shapes", "documentation")}
    trimmed["operations"] = kept
    trimmed["shapes"] = dict(sorted(shapes.items()))
    result: dict[str, Any] = _without_documentation(trimmed)
    return result


def trim_endpoints(endpoints: dict[str, Any], service: str = SERVICE) -> dict[str, Any]:
    """endpoints.json with every partition's services cut to `service`."""
    partitions = [
        {**partition, "services": {name: entry for name, entry in partition["services"].items() if name == service}}
        for partition in endpoints["partitions"]
    ]
    return {**endpoints, "partitions": partitions}


def generated_files() -> dict[str, str]:
    """Every file of `DATA_DIRECTORY` (relative path → text), generated from the installed botocore."""
    import json

    from botocore.loaders import Loader

    defaults = Loader()

    def text(document: Any) -> str:
        return json.dumps(document, indent=1, sort_keys=True) + "\n"

    service_directory = os.path.join(SERVICE, API_VERSION)
    model = defaults.load_service_model(SERVICE, "service-2", API_VERSION)
    rules = defaults.load_service_model(SERVICE, "endpoint-rule-set-1", API_VERSION)
    files = {
        os.path.join(service_directory, "service-2.json"): text(trim_service_model(model)),
        os.path.join(service_directory, "endpoint-rule-set-1.json"): text(rules),
        "endpoints.json": text(trim_endpoints(defaults.load_data("endpoints"))),
    }
    for name in SHARED_FILES:
        files[name] = text(defaults.load_data(name.removesuffix(".json")))
    return files


def write(directory: str = DATA_DIRECTORY) -> None:
    """Writes the generated files: run after the Lambda runtime's botocore changes."""
    for relative, content in generated_files().items():
        path = os.path.join(directory, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as file:
            file.write(content)


if __name__ == "__main__":
    write()
