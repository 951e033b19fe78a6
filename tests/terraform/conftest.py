"""Exports every Terraform test module shares: one `chalice package` per stage per test session, which pytest-xdist's
workers share.

Tests read them and never write to them; a test that needs a changed export copies one (`support.copy_export`).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from scripts.operations import export_terraform
from tests.terraform.support import STAGES, Export


def _built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> Path:
    """A directory built once per test session: pytest-xdist's workers share it under their common temp directory,
    and a lock makes the others wait for the first instead of packaging the app again."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    out, done = root / name, root / f"{name}.done"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            build(out)
            done.touch()
    return out


def _export(tmp_path_factory: pytest.TempPathFactory, stage: str) -> Export:
    return Export(stage, _built_once(tmp_path_factory, f"terraform-{stage}", partial(export_terraform.export, stage)))


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return _export(tmp_path_factory, "prod")


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return _export(tmp_path_factory, "dev")


@pytest.fixture(scope="session")
def exports(dev: Export, prod: Export) -> dict[str, Export]:
    return {"dev": dev, "prod": prod}


@pytest.fixture(params=STAGES)
def exported(request: pytest.FixtureRequest) -> Export:
    """Each stage's export in turn."""
    export: Export = request.getfixturevalue(request.param)
    return export


@pytest.fixture(scope="session")
def raw_prod(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Chalice's unedited Terraform for prod, to post-process with settings the stage files do not hold."""
    out = _built_once(tmp_path_factory, "chalice-raw-prod", partial(export_terraform.run_chalice_package, "prod"))
    document: dict[str, Any] = json.loads((out / export_terraform.CHALICE_FILE).read_text())
    return document


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return Export("bootstrap", _built_once(tmp_path_factory, "terraform-bootstrap", export_terraform.export_bootstrap))
