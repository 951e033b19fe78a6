"""Fault-injection fixtures: one moto, and API processes that reach it only through a `FaultProxy`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.harness.local_stack import ChaliceLocal, Moto

from .proxy import FORWARD, REFUSE, FaultProxy
from .support import FAULT_SETTINGS, TABLE, ProxiedApi


@pytest.fixture(scope="package")
def moto() -> Iterator[Moto]:
    server = Moto.start()
    try:
        server.create_table(TABLE)
        yield server
    finally:
        server.stop()


def _proxied_api(moto: Moto, initial_mode: str) -> Iterator[ProxiedApi]:
    proxy = FaultProxy(moto.port).start()
    api = None
    try:
        proxy.set_mode(initial_mode)
        api = ChaliceLocal.start(proxy.endpoint, FAULT_SETTINGS)
        yield ProxiedApi(api, proxy)
    finally:
        if api is not None:
            api.stop()
        proxy.stop()


@pytest.fixture(scope="module")
def warm_api(moto: Moto) -> Iterator[ProxiedApi]:
    """An API that has read the table once, so it holds a snapshot to fall back on."""
    for stack in _proxied_api(moto, FORWARD):
        assert stack.get("/llms?limit=1").status == 200
        yield stack


@pytest.fixture(scope="module")
def cold_api(moto: Moto) -> Iterator[ProxiedApi]:
    """An API that has never managed to read the table: DynamoDB refuses from the very first request."""
    yield from _proxied_api(moto, REFUSE)
