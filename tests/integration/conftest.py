"""Real processes on loopback: a moto server and `chalice local`, started and stopped by the tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from scripts.harness.local_stack import ChaliceLocal, HttpAnswer, Moto, local_table_name

TABLE = local_table_name()


@dataclass
class LocalStack:
    """moto + chalice local for one test module; `kill_dynamodb` and `revive_dynamodb` inject faults."""

    moto: Moto
    api: ChaliceLocal

    @property
    def client(self) -> Any:
        return self.moto.client

    def kill_dynamodb(self) -> None:
        self.moto.stop()

    def revive_dynamodb(self) -> None:
        """The same endpoint again, holding the sample catalogue."""
        self.moto.restart()
        self.moto.create_table(TABLE)

    def stop(self) -> None:
        self.api.stop()
        self.moto.stop()

    def get(self, path: str, headers: dict[str, str] | None = None, timeout: float = 30) -> HttpAnswer:
        return self.api.get(path, headers, timeout)


@pytest.fixture(scope="module")
def make_stack() -> Iterator[Callable[..., LocalStack]]:
    stacks: list[LocalStack] = []

    def make(**overrides: str) -> LocalStack:
        moto = Moto.start()
        try:
            moto.create_table(TABLE)
            stack = LocalStack(moto, ChaliceLocal.start(moto.endpoint, overrides))
        except BaseException:
            moto.stop()
            raise
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()
