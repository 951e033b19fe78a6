"""openapi.yaml, the app and chalicelib/contract.py describe the same API.

Routes and methods come from `app.routes`; query parameters and error codes from
`chalicelib.contract`, which the query validation itself reads. The app is also
probed, so a contract the code ignored would fail here too.
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
from chalicelib import contract

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


def test_every_route_and_method_is_documented_and_nothing_else(spec):
    app_operations = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    spec_operations = {
        (path, method) for path, item in spec["paths"].items() for method in item if method in HTTP_METHODS
    }
    assert spec_operations == app_operations
    assert set(app.routes) == set(contract.ROUTES)
    assert all(set(methods) == set(contract.ROUTE_METHODS) for methods in app.routes.values())


def test_path_parameters_match_the_routes(spec):
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            assert spec_parameters(spec, path, method.lower(), "path") == set(entry.view_args), path


def test_query_parameters_match_the_contract(spec):
    for path, methods in app.routes.items():
        for method in methods:
            # A CORS preflight carries the query of the request it asks about, and never reads it.
            expected = set() if method == "OPTIONS" else contract.ROUTES[path].query_parameters
            assert spec_parameters(spec, path, method.lower(), "query") == expected, (path, method)


@pytest.mark.parametrize("route", contract.ROUTES.values(), ids=lambda route: route.path)
def test_app_refuses_what_the_contract_does_not_allow_and_accepts_what_it_does(route):
    concrete = re.sub(r"\{[^}]+\}", "gpt-4o", route.path)
    with Client(app, stage_name="local") as client:
        unknown = client.http.get(f"{concrete}?{PROBE}=1")
        assert unknown.status_code == 400
        assert json.loads(unknown.body)["error"]["code"] == contract.INVALID_PARAMETER.code
        for name in route.query_parameters:
            # Repeating a known parameter is refused as repeated, never as unknown.
            repeated = client.http.get(f"{concrete}?{name}=a&{name}=b")
            assert repeated.status_code == 400 and "once" in json.loads(repeated.body)["error"]["message"], name


def test_probe_parameter_is_really_unknown():
    assert all(PROBE not in route.query_parameters for route in contract.ROUTES.values())


def test_error_codes_in_the_document_are_the_contract_s(spec):
    documented = set(spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"])
    assert documented == {error.code for error in contract.ERROR_CODES}
    used = set().union(*(route.errors for route in contract.ROUTES.values()))
    assert used == set(contract.ERROR_CODES)


def test_every_status_a_route_can_answer_is_documented_for_its_get(spec):
    for path, route in contract.ROUTES.items():
        documented = {int(status) for status in spec["paths"][path]["get"]["responses"] if status.isdigit()}
        assert {error.status for error in route.errors} <= documented, path


def test_the_contract_calls_the_token_checksum_what_it_is_not_a_signature(spec):
    # The checksum's key is in public source (chalicelib/query.py), so the token guards against accidents, not forgery.
    description = spec["components"]["parameters"]["NextToken"]["description"]
    assert not re.search(r"\bsigned\b", json.dumps(spec), re.IGNORECASE)
    assert "public" in description and "forgery" in description
