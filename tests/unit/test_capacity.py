"""Prod's capacity settings, the export and the capacity model agree with one another.

The throttle comes from the values the Terraform export gives its variables (the stage file it copies in as
terraform.tfvars.json, else the variable's default in infra/terraform/variables.tf), reserved concurrency
from .chalice/config.json (what `chalice package` puts on the function); the model's rules are
docs/capacity.md's. The document's tables are the model's output. `make load` is checked without
generating any load: its refusals run for real, its locust command is read with `make -n`.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from scripts.operations.export_terraform import INFRA, stage_file
from scripts.planning import capacity_model as model
from scripts.planning.cost_model import SECONDS_PER_MONTH, Inputs, generated_block, waf_cost, waf_logging_cost
from tests.terraform.support import parse_hcl

ROOT = Path(__file__).resolve().parents[2]
CHALICE_CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())


@pytest.fixture(scope="module")
def prod() -> model.StageLimits:
    return model.stage_limits("prod")


def _exported_default(name: str) -> object:
    """The value Terraform plans prod with: the stage file (the export's terraform.tfvars.json), else the default."""
    values = json.loads(stage_file("prod").read_text())
    if name in values:
        return values[name]
    return parse_hcl((INFRA / "variables.tf").read_text())["variable"][name]["default"]


# --- prod's settings: the export, Chalice's config and the model ------------------------------------------------


def test_the_model_reads_the_throttle_the_export_writes_and_chalices_reserved_concurrency(prod):
    assert prod.throttle_rate == _exported_default("api_throttling_rate_limit")
    assert prod.throttle_burst == _exported_default("api_throttling_burst_limit")
    assert prod.provisioned_concurrency == _exported_default("provisioned_concurrency")
    stage = CHALICE_CONFIG["stages"]["prod"]
    assert prod.reserved_concurrency == stage["reserved_concurrency"]
    assert prod.memory_mb == stage["lambda_memory_size"]
    assert prod.warmup_containers == int(stage["environment_variables"]["WARMUP_CONCURRENCY"])
    if _exported_default("waf_enabled"):
        assert prod.waf_rate_limit_per_5_minutes == _exported_default("waf_rate_limit_per_5_minutes")


def test_prod_throttle_carries_3000_users_at_one_request_per_second_with_headroom(prod):
    assert prod.throttle_rate >= 3_000 * 1.0 * 1.25
    row = model.capacity_row(3_000, prod)
    assert row.served_per_second == 3_000
    assert row.warm_binds == "nothing"


def test_prod_rate_and_burst_fit_api_gateways_account_limits_with_the_other_stages(prod):
    # dev's throttle is counted: the stages share one account and region.
    assert prod.other_throttle_rate > 0 and prod.other_throttle_burst > 0
    assert prod.throttle_rate + prod.other_throttle_rate <= 10_000
    assert prod.throttle_burst + prod.other_throttle_burst <= 5_000
    # The bucket holds at least one second of the required load arriving at once.
    assert prod.throttle_burst >= 3_000


def test_prod_reserved_concurrency_covers_the_models_concurrency_at_the_throttle_rate(prod):
    # A warm hit: the bench's p99 of 0.159 ms (docs/performance.md) on 1024/1769 of a vCPU, plus 1 ms of runtime.
    duration_ms = model.lambda_duration_ms(model.BENCH_WARM_P99_MS, prod.memory_mb)
    assert duration_ms == pytest.approx(0.159 * 1769 / 1024 + 1.0)
    peak = model.peak_containers(prod.throttle_rate, prod)
    assert peak > model.concurrency(prod.throttle_rate, duration_ms)
    assert prod.reserved_concurrency >= 2 * peak
    # And it does not bind before API Gateway's account limit, even if warm invocations took 10 ms.
    assert prod.reserved_concurrency >= model.poisson_quantile(model.concurrency(10_000, 10.0))


def test_prod_reserved_concurrency_leaves_account_concurrency_for_other_functions(prod):
    # dev's API and both warm-up functions reserve concurrency from the same account.
    assert prod.other_reserved_concurrency >= 12
    assert prod.reserved_concurrency + prod.other_reserved_concurrency <= 1_000 - 100 - 200
    assert prod.reserved_concurrency >= prod.provisioned_concurrency


def test_a_cold_fleet_at_reserved_concurrency_stays_under_the_tables_read_quota(prod):
    # 5,000 items x 330 B = 403 blocks of 4 KB, read eventually consistent: 201.5 units a scan.
    assert model.read_units_of_a_scan() == 201.5
    assert prod.reserved_concurrency * 201.5 <= 40_000


def test_prod_passes_every_capacity_check(prod):
    assert [check.name for check in model.check_limits(prod) if not check.passed] == []


def test_each_check_fails_when_its_limit_is_out_of_bounds(prod):
    cases = {
        "the throttle carries": replace(prod, throttle_rate=200),  # prod before issue 12
        "the burst admits": replace(prod, throttle_burst=400),
        "the rate, with the other stages'": replace(prod, throttle_rate=9_990),
        "the burst, with the other stages'": replace(prod, throttle_burst=4_990),
        "the peak containers at the throttle rate": replace(prod, reserved_concurrency=20),
        "does not bind below": replace(prod, reserved_concurrency=100),  # prod before issue 12
        "covers provisioned": replace(prod, provisioned_concurrency=prod.reserved_concurrency + 1),
        "WAF's rate rule": replace(prod, waf_rate_limit_per_5_minutes=100),
        "the account keeps": replace(prod, reserved_concurrency=700),
        "a cold fleet": replace(prod, reserved_concurrency=250),
        "serves the 3,000 users warm": replace(prod, provisioned_concurrency=2),  # prod before issue 19
        # Nothing warm before an all-at-once shift: 4,155 containers start at once.
        "every step fits reserved concurrency": replace(
            prod,
            deployment_config="CodeDeployDefault.LambdaAllAtOnce",
            provisioned_concurrency=0,
            prewarm_minimum=0,
            prewarm_maximum=0,
        ),
        "every step fits the table's partition": replace(prod, prewarm_minimum=60, prewarm_maximum=64),
    }
    for fragment, limits in cases.items():
        failed = [check.name for check in model.check_limits(limits) if not check.passed]
        assert any(fragment in name for name in failed), (fragment, failed)


# --- a deploy at peak (issue 19) ----------------------------------------------------------------------------------


def test_the_model_reads_prods_deployment_config_and_the_hooks_prewarm_limits(prod):
    assert prod.deployment_config == _exported_default("codedeploy_deployment_config")
    hook = CHALICE_CONFIG["stages"]["prod"]["lambda_functions"]["before_allow_traffic"]["environment_variables"]
    assert (prod.prewarm_minimum, prod.prewarm_maximum) == (int(hook["PREWARM_MINIMUM"]), int(hook["PREWARM_MAXIMUM"]))
    assert prod.provisioned_concurrency == _exported_default("provisioned_concurrency")
    assert prod.deployment_config in model.DEPLOYMENT_STEPS


def test_prods_export_survives_a_deploy_at_3000_users(prod):
    steps = model.deploy_steps(prod, 3_000)
    shares = [step.share for step in steps[1:]]
    assert shares == list(model.DEPLOYMENT_STEPS[prod.deployment_config]) and shares[-1] == 1.0
    for step in steps:
        assert step.concurrency <= prod.reserved_concurrency, step
        assert step.scan_read_units <= 3_000 * prod.refresh_deadline_seconds, step
    # Every traffic step lands on enough warm containers: at most a few peak-only cold starts, never a cold fleet.
    assert all(step.cold_starts <= step.containers_needed for step in steps[1:])
    # The hook warms the live peak's 13 containers with 25 % headroom before any traffic moves.
    assert steps[0].cold_starts == math.ceil(13 * 1.25) == 17


def test_a_shift_onto_nothing_warm_is_a_cold_fleet(prod):
    cold = replace(
        prod,
        deployment_config="CodeDeployDefault.LambdaAllAtOnce",
        provisioned_concurrency=0,
        prewarm_minimum=0,
        prewarm_maximum=0,
    )
    (_, shift) = model.deploy_steps(cold, 3_000)
    assert shift.cold_starts == model.cold_fleet_concurrency(3_000) == 4_155
    assert not shift.fits_reserved(cold) and not shift.fits_table(cold)


def test_provisioned_concurrency_alone_carries_an_all_at_once_shift(prod):
    # Split by weight, all 13 provisioned containers serve the new version once it takes all traffic.
    limits = replace(prod, deployment_config="CodeDeployDefault.LambdaAllAtOnce", prewarm_minimum=0, prewarm_maximum=0)
    (_, shift) = model.deploy_steps(limits, 3_000)
    assert shift.containers_warm == 13 and shift.cold_starts == 0


def test_every_linear_and_canary_configuration_ends_with_all_traffic_on_the_new_version():
    for name, shares in model.DEPLOYMENT_STEPS.items():
        assert list(shares) == sorted(shares) and shares[-1] == 1.0, name
    assert model.DEPLOYMENT_STEPS["CodeDeployDefault.LambdaLinear10PercentEvery1Minute"][0] == 0.1
    with pytest.raises(ValueError, match="unknown CodeDeploy configuration"):
        model.deploy_steps(replace(model.stage_limits("prod"), deployment_config="Custom.Fast"), 3_000)


# --- the model's arithmetic ------------------------------------------------------------------------------------


def test_concurrency_is_request_rate_times_duration():
    assert model.concurrency(4_000, 1.5) == pytest.approx(6.0)


def test_poisson_quantile_is_the_smallest_count_covering_the_probability():
    # Poisson(1): P(N <= 3) = 0.981, P(N <= 4) = 0.996.
    assert model.poisson_quantile(1.0, 0.99) == 4
    assert model.poisson_quantile(0.0) == 0
    # Large means switch to the normal approximation, which is centred on the mean.
    assert model.poisson_quantile(10_000, 0.5) == 10_000
    assert model.poisson_quantile(10_000, 0.9999) == math.ceil(10_000 + 3.719 * 100)


def test_requests_per_second_follow_users_and_their_pace(prod):
    assert model.capacity_row(1_000, prod, seconds_per_request=2.0).requests_per_second == 500


def test_requests_over_the_throttle_are_answered_429_and_never_reach_lambda(prod):
    row = model.capacity_row(10_000, prod)
    assert row.served_per_second == prod.throttle_rate
    assert "stage throttle" in row.warm_binds and "account limit" in row.warm_binds
    assert row.monthly_cost == model.capacity_row(5_000, prod).monthly_cost


def test_monthly_cost_adds_prods_provisioned_capacity_and_web_acl_to_the_bill(prod):
    bare = replace(prod, provisioned_concurrency=0, waf_rate_limit_per_5_minutes=None)
    with_both = replace(prod, provisioned_concurrency=2, waf_rate_limit_per_5_minutes=1_500)
    traffic = Inputs(requests_per_month=100 * SECONDS_PER_MONTH)
    # 2 x 1 GB arm64 all month, and the web ACL with its logs for 100 requests/s.
    expected = 2 * 0.0000033334 * SECONDS_PER_MONTH + waf_cost(traffic) + waf_logging_cost(traffic)
    difference = model.capacity_row(100, with_both).monthly_cost - model.capacity_row(100, bare).monthly_cost
    assert difference == pytest.approx(expected)


def test_containers_never_fall_below_the_warm_up_pool_or_provisioned_concurrency(prod):
    assert model.capacity_row(100, prod).containers == max(prod.warmup_containers, prod.provisioned_concurrency)
    assert model.capacity_row(100, replace(prod, provisioned_concurrency=0)).containers == prod.warmup_containers


def test_scans_and_read_units_follow_containers_and_the_mean_ttl(prod):
    row = model.capacity_row(3_000, prod)
    mean_ttl = prod.ttl_seconds * (1 - prod.ttl_jitter_ratio / 2)
    assert row.scans_per_minute == pytest.approx(row.containers * 60 / mean_ttl)
    assert row.read_units_per_second == pytest.approx(row.scans_per_minute / 60 * 201.5)


def test_a_cold_fleet_needs_a_container_for_every_request_during_init_and_the_first_scan(prod):
    # 385 ms of init + a 1 s scan: 1.385 s of arrivals, each on its own container.
    assert model.cold_fleet_concurrency(3_000) == 4_155
    row = model.capacity_row(3_000, prod)
    assert f"reserved concurrency {prod.reserved_concurrency}" in row.cold_binds


def test_rows_run_from_100_to_10000_users(prod):
    lines = model.capacity_table(prod).splitlines()[2:]
    assert [line.split(" | ")[0].strip("| ") for line in lines] == [f"{users:,}" for users in model.USER_ROWS]
    assert model.USER_ROWS[0] == 100 and model.USER_ROWS[-1] == 10_000


@pytest.mark.parametrize("document, name", sorted(model.doc_blocks()), ids=lambda value: str(value))
def test_documented_tables_equal_the_models_output(document, name):
    text = (ROOT / document).read_text(encoding="utf-8")
    assert generated_block(text, name) == model.doc_blocks()[(document, name)], (
        f"{document} ({name}) is out of date: run .venv/bin/python scripts/planning/capacity_model.py --write-docs"
    )


# --- make load -------------------------------------------------------------------------------------------------


def _make_load(*arguments: str, dry_run: bool = False) -> subprocess.CompletedProcess[str]:
    # -o: never reinstall the venv from a test; URL and USERS must come from the arguments only.
    environment = {key: value for key, value in os.environ.items() if key not in {"URL", "USERS", "MINUTES"}}
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", *(["-n"] if dry_run else []), "load"]
    return subprocess.run(
        [*command, *arguments], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=30, check=False
    )


def test_make_load_refuses_to_run_without_a_url():
    result = _make_load()
    assert result.returncode != 0
    assert "usage: make load URL=" in result.stderr
    assert "locust" not in result.stdout


@pytest.mark.parametrize("arguments", [("USERS=abc",), ("USERS=0",), ("MINUTES=0",), ("MINUTES=soon",)])
def test_make_load_refuses_a_bad_user_count_or_duration_before_starting_locust(arguments):
    # Port 9 on loopback: nothing would be loaded even if the check let it through.
    result = _make_load("URL=http://127.0.0.1:9", *arguments)
    assert result.returncode != 0
    assert "make load:" in result.stderr
    assert "locust -f" not in result.stderr


def test_make_load_runs_locust_headless_with_csv_and_html_reports_under_build_load():
    script = _make_load("URL=http://127.0.0.1:9", "USERS=5", "MINUTES=0.1", dry_run=True).stdout
    assert "locust -f loadtest/locustfile.py" in script
    assert '--host "http://127.0.0.1:9"' in script
    assert "--headless" in script
    assert 'users="5"' in script and "--users" in script and "--run-time" in script
    assert "mkdir -p build/load" in script
    assert "--csv build/load/load --html build/load/load.html" in script
    # Users are paced to the capacity model's 1 request/s unless the caller sets another pace.
    assert 'LOAD_REQUESTS_PER_SECOND="${LOAD_REQUESTS_PER_SECOND-1}"' in script
