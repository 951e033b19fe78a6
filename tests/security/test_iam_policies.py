"""Least privilege across every IAM policy file under .chalice, including ones added later.

tests/test_packaging.py pins the exact statements of the known per-stage files; this sweeps every
policy document so a new stage or a hand-edited file cannot slip in a wildcard.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHALICE_DIR = ROOT / ".chalice"
SENSITIVE_SERVICES = ("dynamodb:", "lambda:")
# Actions that support no resource-level permissions, so IAM only accepts them with "Resource": "*"
# (per the Service Authorization Reference): X-Ray's trace upload, and the CloudWatch metric read with
# which the BeforeAllowTraffic hook sizes its pre-warm from the live alias's concurrency (read-only).
# Nothing else may have "*".
RESOURCELESS_ACTIONS = frozenset(
    {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:GetMetricStatistics"}
)


def policy_documents() -> list[Path]:
    documents = []
    for path in sorted(CHALICE_DIR.rglob("*.json")):
        if {"deployed", "deployments"} & set(path.relative_to(CHALICE_DIR).parts):
            continue
        content = json.loads(path.read_text())
        if isinstance(content, dict) and "Statement" in content:
            documents.append(path)
    return documents


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_configured_policy_file_is_swept():
    config = json.loads((CHALICE_DIR / "config.json").read_text())
    referenced = set()
    for stage in config["stages"].values():
        referenced.add(stage["iam_policy_file"])
        referenced |= {function["iam_policy_file"] for function in stage.get("lambda_functions", {}).values()}
    assert referenced <= {path.name for path in policy_documents()}


@pytest.mark.parametrize("path", policy_documents(), ids=lambda path: path.name)
def test_policy_has_no_wildcard_actions_or_resources(path):
    for statement in as_list(json.loads(path.read_text())["Statement"]):
        # NotAction / NotResource grant everything except a list: wildcards by another name.
        assert not {"NotAction", "NotResource", "NotPrincipal"} & set(statement), statement
        assert statement["Effect"] == "Allow", statement
        actions = as_list(statement["Action"])
        resources = as_list(statement["Resource"])
        for action in actions:
            assert "*" not in action and "?" not in action, (path.name, action)
        if "*" in resources:
            assert set(actions) <= RESOURCELESS_ACTIONS, (path.name, statement)
        if any(action.startswith(SENSITIVE_SERVICES) for action in actions):
            for resource in resources:
                # Region and account may be wildcards; the table or function name may not.
                name = resource.rsplit(":", 1)[-1] if ":function:" not in resource else resource.split(":function:")[1]
                assert "*" not in name.removesuffix(":*") and not name.endswith("/*"), (path.name, resource)
                assert resource.startswith(("arn:aws:dynamodb:", "arn:aws:lambda:")), (path.name, resource)
