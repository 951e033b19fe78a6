"""docs/configuration.md's stage settings table is generated, current, and no setting lives in both files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.terraform import settings_table
from tests.terraform.settings_table import CHALICE_CONFIG, DOCUMENT, STAGE_FILE, VARIABLES

ROOT = Path(__file__).resolve().parents[2]
REFRESH = "run `.venv/bin/python -m tests.terraform.settings_table` to refresh it"


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A copy of the files the table is made from, to change."""
    for name in (CHALICE_CONFIG, VARIABLES, DOCUMENT, *(STAGE_FILE.format(stage=s) for s in ("dev", "prod"))):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def is_current(root: Path) -> bool:
    document = (root / DOCUMENT).read_text()
    return settings_table.with_table(document, settings_table.table(root)) == document


def test_the_settings_table_in_the_docs_is_the_generated_one() -> None:
    assert is_current(ROOT), f"{DOCUMENT} is stale: {REFRESH}"


def test_no_setting_is_set_in_both_files() -> None:
    assert settings_table.same_setting_in_two_files() == []


def test_a_new_setting_without_its_row_makes_the_table_stale(scratch: Path) -> None:
    assert is_current(scratch)
    prod = scratch / STAGE_FILE.format(stage="prod")
    prod.write_text(json.dumps({**json.loads(prod.read_text()), "api_cache_ttl_seconds": 30}))
    assert not is_current(scratch), "a value moved into a stage file"
    with (scratch / VARIABLES).open("a") as variables:
        variables.write('\nvariable "new_setting" {\n  type    = number\n  default = 1\n}\n')
    settings_table.main(scratch)
    assert (
        is_current(scratch) and "| `new_setting` | `infra/terraform/variables.tf` |" in (scratch / DOCUMENT).read_text()
    )


def test_a_setting_in_both_files_is_found_under_its_name_or_one_that_means_the_same(scratch: Path) -> None:
    config = json.loads((scratch / CHALICE_CONFIG).read_text())
    config["stages"]["dev"]["environment_variables"]["CORS_ALLOWED_ORIGINS"] = "https://a.example"
    (scratch / CHALICE_CONFIG).write_text(json.dumps(config))
    with (scratch / VARIABLES).open("a") as variables:
        variables.write('\nvariable "reserved_concurrent_executions" {\n  type    = number\n  default = 10\n}\n')
        variables.write('\nvariable "lambda_timeout" {\n  type    = number\n  default = 10\n}\n')
    found = settings_table.same_setting_in_two_files(scratch)
    assert (
        f"dev: {CHALICE_CONFIG} environment_variables.CORS_ALLOWED_ORIGINS and {VARIABLES} cors_allowed_origins"
        in found
    )
    for stage in ("dev", "prod"):
        assert f"{stage}: {CHALICE_CONFIG} lambda_timeout and {VARIABLES} lambda_timeout" in found
        assert f"{stage}: {CHALICE_CONFIG} reserved_concurrency and {VARIABLES} reserved_concurrent_executions" in found
    # local is never exported, so its own CORS_ALLOWED_ORIGINS is the only place local sets them.
    assert not [line for line in found if line.startswith("local:")]
    assert not [line for line in found if line.startswith("prod:") and "CORS" in line]
