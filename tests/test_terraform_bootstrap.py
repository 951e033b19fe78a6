"""The account-level bootstrap (infra/bootstrap/, exported by `export_terraform.py --bootstrap`).

API Gateway's CloudWatch Logs role is one setting per account and region, so it has a Terraform root of its
own instead of belonging to a stage. checkov scans it in tests/test_terraform_export.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from scripts import export_terraform

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / "infra" / "bootstrap"
REFERENCE = re.compile(r"\b(var|local|aws_[a-z0-9_]+|data)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?")


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("terraform-bootstrap")
    assert export_terraform.main(["--bootstrap", "--out", str(out)]) == 0
    return out


def documents(directory: Path) -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(directory.glob("*.tf.json"))}


def merged(directory: Path, block: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for document in documents(directory).values():
        for kind, items in document.get(block, {}).items():
            result.setdefault(kind, {}).update(items)
    return result


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in [key, *strings(item)]]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return []


def test_bootstrap_export_copies_every_terraform_file_and_nothing_else(bootstrap: Path) -> None:
    expected = sorted(path.name for path in BOOTSTRAP.iterdir() if path.name.endswith((".tf", ".tf.json")))
    assert sorted(path.name for path in bootstrap.iterdir()) == expected
    assert "versions.tf" in expected and "api_gateway_account.tf.json" in expected


def test_bootstrap_registers_the_role_with_api_gateway_after_its_policy_is_attached(bootstrap: Path) -> None:
    resources = merged(bootstrap, "resource")
    assert resources["aws_api_gateway_account"]["this"] == {
        "cloudwatch_role_arn": "${aws_iam_role.api_gateway_cloudwatch.arn}",
        "//": resources["aws_api_gateway_account"]["this"]["//"],
        "depends_on": ["aws_iam_role_policy_attachment.api_gateway_cloudwatch"],
    }
    attachment = resources["aws_iam_role_policy_attachment"]["api_gateway_cloudwatch"]
    assert attachment["role"] == "${aws_iam_role.api_gateway_cloudwatch.name}"
    assert attachment["policy_arn"].endswith(":iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
    # Nothing here is optional: a count would bring back "which stage turns it on".
    for kind, items in resources.items():
        for key, body in items.items():
            assert "count" not in body and "for_each" not in body, f"{kind}.{key}"


def test_bootstrap_role_trust_policy_is_exactly_the_one_aws_documents(bootstrap: Path) -> None:
    role = merged(bootstrap, "resource")["aws_iam_role"]["api_gateway_cloudwatch"]
    assert role["assume_role_policy"] == "${jsonencode(local.api_gateway_cloudwatch_assume_role_policy)}"
    local_values = {k: v for document in documents(bootstrap).values() for k, v in document.get("locals", {}).items()}
    assert local_values["api_gateway_cloudwatch_assume_role_policy"] == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    # IAM names are global and the setting is regional: one bootstrap per region must not collide.
    assert "${data.aws_region.current.name}" in role["name"]


def test_bootstrap_pins_the_same_terraform_and_provider_versions_as_a_stage(bootstrap: Path) -> None:
    def constraints(path: Path) -> list[str]:
        return [line.strip() for line in path.read_text().splitlines() if "version" in line and "=" in line]

    assert constraints(bootstrap / "versions.tf") == constraints(ROOT / "infra" / "terraform" / "versions.tf")
    assert all("terraform" not in document for document in documents(bootstrap).values())


def test_bootstrap_references_point_at_something_declared(bootstrap: Path) -> None:
    docs = documents(bootstrap).values()
    resources = {(kind, key) for kind, items in merged(bootstrap, "resource").items() for key in items}
    data = {(kind, key) for kind, items in merged(bootstrap, "data").items() for key in items}
    variables = {name for document in docs for name in document.get("variable", {})}
    local_names = {name for document in docs for name in document.get("locals", {})}
    checked = 0
    for text in (text for document in docs for text in strings(document) if "${" in text):
        for kind, name, attribute in REFERENCE.findall(text):
            checked += 1
            if kind == "var":
                assert name in variables
            elif kind == "local":
                assert name in local_names
            elif kind == "data":
                assert (name, attribute) in data
            else:
                assert (kind, name) in resources, f"{kind}.{name}"
    assert checked >= 6


def test_bootstrap_and_stage_exports_manage_disjoint_resources(bootstrap: Path) -> None:
    stage_infra = ROOT / "infra" / "terraform"
    stage_kinds = set(merged(stage_infra, "resource"))
    assert "aws_api_gateway_account" not in stage_kinds
    assert "aws_api_gateway_account" in merged(bootstrap, "resource")


def test_bootstrap_export_takes_a_backend_file(tmp_path: Path) -> None:
    backend = tmp_path / "backend.hcl"
    backend.write_text('terraform {\n  backend "s3" {}\n}\n')
    out = export_terraform.export_bootstrap(tmp_path / "out", backend)
    assert (out / "backend.tf").read_text() == backend.read_text()
    (out / "terraform.tfstate").write_text("{}")
    export_terraform.export_bootstrap(out)
    assert (out / "terraform.tfstate").exists(), "a re-export keeps local state"
