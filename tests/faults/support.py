"""What conftest.py and the fault tests share: the table, the settings every bound derives from, `ProxiedApi`."""

from __future__ import annotations

from dataclasses import dataclass

from scripts.harness.local_stack import ChaliceLocal, HttpAnswer, local_table_name

from .proxy import FaultProxy

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
