"""Shared test set-up: no test may reach real AWS, so credentials are dummies and the region is fixed.

Each test's lane follows its directory: tests/unit/ is the fast in-process lane (`make check`),
everything else starts processes or packages the app (`make integration`). `make test` runs both.
"""

import os
from pathlib import Path

import pytest

from scripts.harness.local_stack import LOCAL_AWS_ENVIRONMENT

UNIT_DIRECTORY = Path(__file__).resolve().parent / "unit"

os.environ.update(LOCAL_AWS_ENVIRONMENT)
os.environ.setdefault("TABLE_NAME", "llm_scores-test")
os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
os.environ.pop("AWS_PROFILE", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        in_unit_lane = UNIT_DIRECTORY in Path(item.path).parents
        item.add_marker(pytest.mark.unit if in_unit_lane else pytest.mark.integration)
