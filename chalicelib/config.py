"""Settings read from the environment once, at import, and validated there.

A typo in a stage's environment fails the cold start loudly instead of
producing a service that silently runs with the wrong timeouts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigurationError(ValueError):
    """An environment variable holds a value the service cannot run with."""


def _number(
    environ: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float,
    maximum: float,
) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigurationError(f"{name} must be between {minimum:g} and {maximum:g}, got {raw!r}")
    return value


def _integer(environ: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    value = _number(environ, name, default, minimum=minimum, maximum=maximum)
    if value != int(value):
        raise ConfigurationError(f"{name} must be a whole number, got {environ.get(name)!r}")
    return int(value)


# What a browser sends as `Origin`: scheme, host and optional port, nothing after (RFC 6454 serialisation).
_ORIGIN = re.compile(r"https?://(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")
ANY_ORIGIN = "*"


def _origins(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list of origins, lower-cased; empty (the default) turns CORS off."""
    origins = tuple(dict.fromkeys(part.strip().lower() for part in environ.get(name, "").split(",") if part.strip()))
    if ANY_ORIGIN in origins and len(origins) > 1:
        raise ConfigurationError(f"{name}: {ANY_ORIGIN!r} allows every origin and cannot be combined with others")
    for origin in origins:
        if origin != ANY_ORIGIN and not _ORIGIN.fullmatch(origin):
            raise ConfigurationError(
                f"{name}: {origin!r} is not an origin: write scheme://host[:port], with no path or trailing slash"
            )
    return origins


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    table_name: str
    aws_region: str
    cache_ttl_seconds: float
    cache_ttl_jitter_ratio: float
    cache_max_stale_seconds: float
    cache_retry_after_seconds: int
    http_max_age_seconds: int
    dynamodb_connect_timeout_seconds: float
    dynamodb_read_timeout_seconds: float
    dynamodb_max_attempts: int
    # One bound for a whole refresh, however many pages and retries it takes: past it, the refresh has failed.
    cache_refresh_deadline_seconds: float
    # The deep health check reads DynamoDB at most once per this interval per container, whatever the request rate.
    health_check_interval_seconds: float
    api_function_name: str
    api_function_qualifier: str
    warmup_concurrency: int
    warmup_hold_milliseconds: int
    service_name: str
    metrics_namespace: str
    log_level: str
    # Origins whose browsers may read answers (chalicelib/cors.py); empty, the default, turns CORS off.
    cors_allowed_origins: tuple[str, ...] = ()
    # How often a warm container reads the catalogue version (one small GetItem) to learn of a data
    # change before its TTL ends; 0 turns the check off. Each check is bounded by its own deadline.
    catalogue_version_check_seconds: float = 10.0
    catalogue_version_check_deadline_seconds: float = 1.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        log_level = env.get("LOG_LEVEL", "INFO").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigurationError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
        table_name = env.get("TABLE_NAME", "llm_scores").strip()
        if not table_name:
            raise ConfigurationError("TABLE_NAME must not be empty")
        return cls(
            table_name=table_name,
            # Lambda always sets AWS_REGION; the fallback only matters for packaging and local runs.
            aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            cache_ttl_seconds=_number(env, "CACHE_TTL_SECONDS", 300, minimum=0, maximum=86_400),
            cache_ttl_jitter_ratio=_number(env, "CACHE_TTL_JITTER_RATIO", 0.1, minimum=0, maximum=0.5),
            cache_max_stale_seconds=_number(env, "CACHE_MAX_STALE_SECONDS", 3_600, minimum=0, maximum=604_800),
            cache_retry_after_seconds=_integer(env, "CACHE_RETRY_AFTER_SECONDS", 5, minimum=1, maximum=3_600),
            http_max_age_seconds=_integer(env, "HTTP_MAX_AGE_SECONDS", 60, minimum=0, maximum=86_400),
            dynamodb_connect_timeout_seconds=_number(
                env, "DYNAMODB_CONNECT_TIMEOUT_SECONDS", 0.5, minimum=0.05, maximum=30
            ),
            dynamodb_read_timeout_seconds=_number(env, "DYNAMODB_READ_TIMEOUT_SECONDS", 1.0, minimum=0.05, maximum=60),
            dynamodb_max_attempts=_integer(env, "DYNAMODB_MAX_ATTEMPTS", 2, minimum=1, maximum=10),
            # 4 s leaves a 10 s function time to answer stale or 503 after a refresh that ran out of time.
            cache_refresh_deadline_seconds=_number(
                env, "CACHE_REFRESH_DEADLINE_SECONDS", 4.0, minimum=0.1, maximum=900
            ),
            health_check_interval_seconds=_number(env, "HEALTH_CHECK_INTERVAL_SECONDS", 10, minimum=1, maximum=3_600),
            api_function_name=env.get("API_FUNCTION_NAME", "llm-scores-dev"),
            api_function_qualifier=env.get("API_FUNCTION_QUALIFIER", ""),
            warmup_concurrency=_integer(env, "WARMUP_CONCURRENCY", 0, minimum=0, maximum=100),
            warmup_hold_milliseconds=_integer(env, "WARMUP_HOLD_MILLISECONDS", 75, minimum=0, maximum=5_000),
            service_name=env.get("POWERTOOLS_SERVICE_NAME", "llm-scores"),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "LLMScores"),
            log_level=log_level,
            cors_allowed_origins=_origins(env, "CORS_ALLOWED_ORIGINS"),
            catalogue_version_check_seconds=_number(
                env, "CATALOGUE_VERSION_CHECK_SECONDS", 10, minimum=0, maximum=3_600
            ),
            catalogue_version_check_deadline_seconds=_number(
                env, "CATALOGUE_VERSION_CHECK_DEADLINE_SECONDS", 1.0, minimum=0.05, maximum=10
            ),
        )


settings = Settings.from_environment()
