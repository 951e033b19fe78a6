"""Deploy paths without AWS: `chalice package` for every stage, stage settings, and least-privilege IAM."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
STAGES = ("local", "dev", "prod")


@pytest.fixture(scope="module", params=STAGES)
def packaged(request, tmp_path_factory):
    stage = request.param
    out = tmp_path_factory.mktemp(f"sam-{stage}")
    chalice = Path(sys.executable).with_name("chalice")
    result = subprocess.run(
        [str(chalice), "package", "--stage", stage, str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return stage, json.loads((out / "sam.json").read_text()), out / "deployment.zip"


def test_package_has_api_function_and_scheduled_warmer(packaged):
    stage, template, _ = packaged
    functions = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    # The warmer, and CodeDeploy's two lifecycle hooks (chalicelib/deploy_hooks.py), each a function of its own.
    assert set(functions) == {"APIHandler", "WarmUp", "BeforeAllowTraffic", "AfterAllowTraffic"}
    assert functions["BeforeAllowTraffic"]["Handler"] == "app.before_allow_traffic"
    assert functions["AfterAllowTraffic"]["Handler"] == "app.after_allow_traffic"
    api = functions["APIHandler"]
    stage_config = CONFIG["stages"][stage]
    assert api["MemorySize"] == stage_config["lambda_memory_size"]
    assert api["Timeout"] == stage_config["lambda_timeout"] < 29
    assert api["ReservedConcurrentExecutions"] == stage_config["reserved_concurrency"]
    assert api["Environment"]["Variables"]["TABLE_NAME"] == f"llm_scores-{stage}"
    events = functions["WarmUp"]["Events"]
    assert [event["Properties"]["Schedule"] for event in events.values()] == ["rate(5 minutes)"]


def test_architecture_tracing_and_compression_follow_the_stage(packaged):
    stage, template, _ = packaged
    stage_config = CONFIG["stages"][stage]
    api = template["Resources"]["APIHandler"]["Properties"]
    assert api.get("Architectures", ["x86_64"]) == [stage_config.get("lambda_architecture", "x86_64")]
    assert (api.get("Tracing") == "Active") is stage_config.get("xray", False)
    compression = template["Resources"]["RestAPI"]["Properties"].get("MinimumCompressionSize")
    assert compression == stage_config.get("minimum_compression_size")
    if stage == "prod":
        assert api["Architectures"] == ["arm64"] and api["Tracing"] == "Active" and compression == 1024


def test_zip_holds_the_app_and_only_pure_python_dependencies(packaged):
    _, _, zip_path = packaged
    names = zipfile.ZipFile(zip_path).namelist()
    assert "app.py" in names and "chalicelib/service.py" in names
    assert not any(name.startswith(("tests/", "scripts/", "bench/")) for name in names)
    assert not [name for name in names if name.endswith((".so", ".pyd", ".dylib"))]
    # requirements.txt pins nothing today, so nothing is vendored beside the app and Chalice's own runtime
    # module (decision 0016).
    assert not [name for name in names if name != "app.py" and not name.startswith(("chalicelib/", "chalice/"))]


def policy_statements(name):
    return json.loads((ROOT / ".chalice" / name).read_text())["Statement"]


@pytest.mark.parametrize("stage", STAGES)
def test_api_policy_reads_only_its_own_table(stage):
    table_statements = [s for s in policy_statements(f"policy-api-{stage}.json") if "dynamodb" in str(s["Action"])]
    for statement in policy_statements(f"policy-api-{stage}.json"):
        for action in statement["Action"]:
            assert "*" not in action
    (statement,) = table_statements
    # GetItem reads the catalogue version; Scan serves and probes (not DescribeTable). No write action.
    assert statement["Action"] == ["dynamodb:GetItem", "dynamodb:Scan"]
    assert statement["Resource"] == [f"arn:aws:dynamodb:*:*:table/llm_scores-{stage}"]


@pytest.mark.parametrize("stage", STAGES)
def test_warmup_policy_may_only_invoke_the_api_function(stage):
    statements = policy_statements(f"policy-warm-up-{stage}.json")
    invoke = [s for s in statements if any(a.startswith("lambda:") for a in s["Action"])]
    assert invoke == [
        {
            "Sid": "InvokeApiFunctionOnly",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [
                f"arn:aws:lambda:*:*:function:llm-scores-{stage}",
                f"arn:aws:lambda:*:*:function:llm-scores-{stage}:*",
            ],
        }
    ]
    assert not any("dynamodb" in str(s) for s in statements)


def test_stage_config_uses_explicit_policies_everywhere():
    assert CONFIG["autogen_policy"] is False
    for stage in STAGES:
        stage_config = CONFIG["stages"][stage]
        assert stage_config["iam_policy_file"] == f"policy-api-{stage}.json"
        assert stage_config["lambda_functions"]["warm_up"]["iam_policy_file"] == f"policy-warm-up-{stage}.json"


# What a request still needs after its refresh gave up: build the stale or 503 answer, log, return.
ANSWER_MARGIN_SECONDS = 2.0
# `local` runs under `chalice local`, which has no function timeout; these two are deployed by Terraform.
DEPLOYED_STAGES = ("dev", "prod")


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_a_refresh_deadline_leaves_time_to_answer_within_the_function_timeout(stage):
    from chalicelib.config import Settings

    assert (ROOT / "infra" / "terraform" / "stages" / f"{stage}.json").exists()
    stage_config = CONFIG["stages"][stage]
    environment = {**CONFIG["environment_variables"], **stage_config["environment_variables"]}
    assert "CACHE_REFRESH_DEADLINE_SECONDS" in environment  # set in the config, not left to the code's default
    deadline = Settings.from_environment(environment).cache_refresh_deadline_seconds
    # Lambda kills a request at its timeout, and then nothing records the failure or starts the back-off.
    assert deadline + ANSWER_MARGIN_SECONDS < stage_config["lambda_timeout"], (stage, deadline)
