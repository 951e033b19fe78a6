"""What the acceptance tests share: a Stage pointed at moto's server, with Stubber clients where moto stops short."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from scripts.acceptance.framework import Stage

ACCOUNT = "123456789012"
REGION = "us-east-1"
# moto's server answers an unimplemented action with a 500: one attempt, so a gap shows at once.
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})
PROD_LIKE = {
    "enable_live_alias": True,
    "provisioned_concurrency": 2,
    "snap_start_enabled": False,
    "api_type": "REST",
    "api_throttling_rate_limit": 4000,
    "api_throttling_burst_limit": 4500,
    "waf_enabled": True,
    "cloudfront_enabled": False,
}


def aws_client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=NO_RETRIES,
    )


def reset_moto(endpoint: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()


def stage_on_moto(
    endpoint: str,
    name: str = "prod",
    settings: Mapping[str, Any] | None = None,
    stubbed: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Stage:
    """A Stage whose clients talk to moto's server, except the services in `stubbed` (Stubber-backed clients)."""
    overrides = dict(stubbed or {})

    def client(service: str) -> Any:
        return overrides[service] if service in overrides else aws_client(endpoint, service)

    fields.setdefault("sleep", lambda seconds: None)
    fields.setdefault("poll_seconds", 0.0)
    return Stage(
        name=name,
        region=REGION,
        settings=dict(PROD_LIKE if settings is None else settings),
        client_factory=client,
        **fields,
    )


def stubbed_client(service: str) -> Any:
    """A client for Stubber: it never reaches the network, so any endpoint does."""
    return aws_client("http://127.0.0.1:9", service)
