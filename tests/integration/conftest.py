"""Real processes on loopback: a moto server and `chalice local`, started and stopped by the tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from scripts import local_stack, seed_data
from tests.stack import HttpAnswer, http_get

TABLE = "llm_scores-local"


@dataclass
class LocalStack:
    """moto + chalice local for one test module; `kill_dynamodb` and `revive_dynamodb` inject faults."""

    dynamodb_port: int
    api_port: int
    project_dir: Path
    overrides: dict[str, str]
    moto: Any = None
    api: Any = None
    client: Any = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> LocalStack:
        self.revive_dynamodb()
        self.api = local_stack.start_chalice_local(
            self.api_port, self.dynamodb_port, project_dir=self.project_dir, quiet=True
        )
        return self

    def revive_dynamodb(self, items: list[dict[str, Any]] | None = None) -> None:
        self.moto = local_stack.start_moto(self.dynamodb_port)
        self.client = boto3.client(
            "dynamodb", endpoint_url=f"http://127.0.0.1:{self.dynamodb_port}", region_name="us-east-1"
        )
        seed_data.ensure_table(self.client, TABLE, create=True)
        seed_data.seed(self.client, TABLE, items or seed_data.load_items(seed_data.DEFAULT_FILE), force=True)

    def kill_dynamodb(self) -> None:
        local_stack.stop(self.moto)

    def stop(self) -> None:
        local_stack.stop(self.api)
        local_stack.stop(self.moto)
        shutil.rmtree(self.project_dir, ignore_errors=True)

    def get(self, path: str, headers: dict[str, str] | None = None, timeout: float = 30) -> HttpAnswer:
        return http_get(self.base_url, path, headers, timeout)


@pytest.fixture(scope="module")
def make_stack() -> Iterator[Any]:
    stacks: list[LocalStack] = []

    def make(**overrides: str) -> LocalStack:
        settings = {"CACHE_TTL_JITTER_RATIO": "0", **overrides}
        stack = LocalStack(
            dynamodb_port=local_stack.free_port(),
            api_port=local_stack.free_port(),
            project_dir=local_stack.project_copy("local", settings),
            overrides=settings,
        )
        stacks.append(stack)
        return stack.start()

    yield make
    for stack in stacks:
        stack.stop()
