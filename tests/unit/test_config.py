import pytest

from chalicelib.config import ConfigurationError, Settings


def test_defaults_are_safe():
    settings = Settings.from_environment({})
    assert settings.cache_ttl_seconds == 300
    assert settings.dynamodb_read_timeout_seconds <= 2 and settings.dynamodb_max_attempts <= 3
    assert settings.aws_region == "us-east-1"
    # A whole refresh ends well inside a 10 s function timeout, with time left to answer stale or 503.
    assert settings.cache_refresh_deadline_seconds == 4
    assert settings.health_check_interval_seconds == 10


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CACHE_TTL_SECONDS", "five"),
        ("CACHE_TTL_SECONDS", "-1"),
        ("CACHE_TTL_JITTER_RATIO", "0.9"),
        ("DYNAMODB_MAX_ATTEMPTS", "2.5"),
        ("WARMUP_CONCURRENCY", "1000"),
        ("LOG_LEVEL", "LOUD"),
        ("TABLE_NAME", " "),
        ("CACHE_REFRESH_DEADLINE_SECONDS", "0"),
        ("CACHE_REFRESH_DEADLINE_SECONDS", "soon"),
        ("CACHE_REFRESH_DEADLINE_SECONDS", "901"),
        ("HEALTH_CHECK_INTERVAL_SECONDS", "0"),
        ("HEALTH_CHECK_INTERVAL_SECONDS", "-5"),
    ],
)
def test_bad_values_fail_loudly_naming_the_variable(name, value):
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_environment({name: value})


def test_region_comes_from_the_standard_variables():
    assert Settings.from_environment({"AWS_REGION": "eu-west-1"}).aws_region == "eu-west-1"
    assert Settings.from_environment({"AWS_DEFAULT_REGION": "eu-central-1"}).aws_region == "eu-central-1"
