"""Fault-injection fixtures: one moto, and API processes that reach it only through a `FaultProxy`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from scripts.local_stack import ChaliceLocal, HttpAnswer, Moto, local_table_name

from .proxy import FORWARD, REFUSE, FaultProxy

TABLE = local_table_name()

# Short on purpose, so the bounds below are seconds, not minutes. Every timing assertion derives from these.
CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 1.0
MAX_ATTEMPTS = 2
TTL = 1
RETRY_AFTER = 1
# botocore `standard` mode sleeps random() * 2 ** (attempt - 1) seconds before retry number `attempt`.
MAX_BACKOFF = sum(2 ** (attempt - 1) for attempt in range(1, MAX_ATTEMPTS))
# Scheduling noise on a shared 2-core machine running other suites: generous, but far below the SDK's 60 s.
SLACK = 2.0

FAULT_SETTINGS = {
    "DYNAMODB_CONNECT_TIMEOUT_SECONDS": str(CONNECT_TIMEOUT),
    "DYNAMODB_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
    "DYNAMODB_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    "CACHE_TTL_SECONDS": str(TTL),
    "CACHE_RETRY_AFTER_SECONDS": str(RETRY_AFTER),
    "CACHE_MAX_STALE_SECONDS": "3600",
    "HTTP_MAX_AGE_SECONDS": "5",
}


@dataclass
class ProxiedApi:
    """`chalice local` whose DynamoDB endpoint is a fault proxy in front of moto."""

    api: ChaliceLocal
    proxy: FaultProxy

    def get(self, path: str, headers: dict[str, str] | None = None) -> HttpAnswer:
        # The client timeout is far above every bound asserted, so a hang shows as a failed bound, not a timeout.
        return self.api.get(path, headers, timeout=60)


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
