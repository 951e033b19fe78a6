"""openapi.yaml and the app describe the same API: routes, methods, path and query parameters, error codes.

Routes come from `app.routes`. Query parameters come from the allow-lists in chalicelib/query.py,
and which allow-list guards which route is read from the app itself: an unknown parameter is
refused with a message listing what the route allows.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from chalice.test import Client

from app import app
from chalicelib import query

ROOT = Path(__file__).resolve().parents[2]
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PROBE = "zz_not_a_parameter"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "openapi.yaml").read_text())


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def spec_parameters(spec: dict[str, Any], path: str, method: str, location: str) -> set[str]:
    operation = spec["paths"][path][method]
    parameters = [resolve(spec, p) for p in spec["paths"][path].get("parameters", []) + operation.get("parameters", [])]
    return {parameter["name"] for parameter in parameters if parameter["in"] == location}


def allowed_by_app(path: str) -> set[str]:
    """What the route accepts, as the app itself reports it when refusing an unknown parameter."""
    concrete = re.sub(r"\{[^}]+\}", "gpt-4o", path)
    with Client(app, stage_name="local") as client:
        response = client.http.get(f"{concrete}?{PROBE}=1")
    assert response.status_code == 400, (path, response.body)
    message = json.loads(response.body)["error"]["message"]
    allowed = message.split("allowed:", 1)[1]
    return {name.strip() for name in allowed.split(",") if name.strip()}


def test_every_route_and_method_is_documented_and_nothing_else(spec):
    app_operations = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    spec_operations = {
        (path, method) for path, item in spec["paths"].items() for method in item if method in HTTP_METHODS
    }
    assert spec_operations == app_operations


def test_path_parameters_match_the_routes(spec):
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            assert spec_parameters(spec, path, method.lower(), "path") == set(entry.view_args), path


def test_query_parameters_match_what_each_route_allows(spec):
    for path, methods in app.routes.items():
        allowed = allowed_by_app(path)
        for method in methods:
            assert spec_parameters(spec, path, method.lower(), "query") == allowed, path


def test_every_allow_list_in_query_module_is_documented(spec):
    # Catches an allow-list that gained a name but whose route the probe above does not reach.
    lists = [query._LIST_PARAMETERS, query._HEALTH_PARAMETERS, query._NO_PARAMETERS]
    documented = {
        name
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
        for name in spec_parameters(spec, path, method, "query")
    }
    assert set().union(*lists) == documented


def test_probe_parameter_is_really_unknown():
    assert PROBE not in query._LIST_PARAMETERS | query._HEALTH_PARAMETERS


def test_error_codes_in_the_document_are_the_ones_the_app_emits(spec):
    documented = set(spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"])
    sources = "\n".join(path.read_text() for path in (ROOT / "chalicelib").glob("*.py"))
    emitted = set(re.findall(r'ApiError\(\s*\d{3},\s*"([a-z_]+)"', sources)) | {"internal_error"}
    # Chalice's own 405 keeps its framework code; the middleware only reshapes it.
    assert documented == emitted | {"MethodNotAllowedError"}
