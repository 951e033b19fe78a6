import base64
import json

import pytest

from chalicelib import query as query_module
from chalicelib.query import (
    InvalidParameter,
    decode_token,
    encode_token,
    parse_health_query,
    parse_item_query,
    parse_list_query,
)


def test_defaults():
    query = parse_list_query(None)
    assert (query.provider, query.sort, query.order, query.limit, query.after) == (None, "model_name", "asc", 100, None)


def test_provider_is_matched_case_insensitively():
    assert parse_list_query({"provider": [" OpenAI "]}).provider == "openai"


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"colour": ["red"]}, "colour"),
        ({"limit": ["0"]}, "limit"),
        ({"limit": ["1001"]}, "limit"),
        ({"limit": ["ten"]}, "limit"),
        ({"limit": ["-1"]}, "limit"),
        ({"limit": ["1e3"]}, "limit"),
        ({"limit": ["99999999999999999999"]}, "limit"),
        ({"sort": ["price"]}, "sort"),
        ({"order": ["up"]}, "order"),
        ({"provider": [""]}, "provider"),
        ({"provider": ["x" * 65]}, "provider"),
        ({"provider": ["a", "b"]}, "provider"),
        ({"next_token": ["garbage"]}, "next_token"),
    ],
)
def test_bad_list_parameter_is_named(parameters, named):
    with pytest.raises(InvalidParameter) as raised:
        parse_list_query(parameters)
    assert raised.value.parameter == named
    assert named in str(raised.value)


def test_token_round_trips_for_its_own_query():
    token = encode_token("openai|score|desc", (False, 88.5, "gpt-4o"))
    assert decode_token(token, "openai|score|desc", "score") == (False, 88.5, "gpt-4o")


def test_token_from_another_query_is_refused():
    token = encode_token("|score|desc", (False, 88.5, "gpt-4o"))
    with pytest.raises(InvalidParameter, match="next_token"):
        decode_token(token, "|score|asc", "score")


def test_tampered_token_is_refused():
    token = encode_token("|model_name|asc", (False, "gpt-4o", "gpt-4o"))
    for position in (0, len(token) // 2, len(token) - 1):
        replacement = "A" if token[position] != "A" else "B"
        tampered = token[:position] + replacement + token[position + 1 :]
        with pytest.raises(InvalidParameter):
            decode_token(tampered, "|model_name|asc", "model_name")


def test_health_accepts_only_deep_true_or_false():
    assert parse_health_query(None) is False
    assert parse_health_query({"deep": ["true"]}) is True
    with pytest.raises(InvalidParameter, match="deep"):
        parse_health_query({"deep": ["yes"]})
    with pytest.raises(InvalidParameter, match="verbose"):
        parse_health_query({"verbose": ["1"]})


def test_routes_without_parameters_refuse_any():
    parse_item_query(None)
    with pytest.raises(InvalidParameter, match="x"):
        parse_item_query({"x": ["1"]})


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("score", (False, "abc", "x")),
        ("context_window", (False, True, "x")),
        ("model_name", (False, 5, "x")),
        ("release_date", (True, "2024-01-01", "x")),
        ("score", ("no", 1, "x")),
        ("score", (False, 1, 7)),
    ],
)
def test_token_with_a_valid_checksum_and_a_wrong_typed_key_is_refused(sort, key):
    view_key = f"|{sort}|asc"
    with pytest.raises(InvalidParameter, match="next_token"):
        decode_token(encode_token(view_key, key), view_key, sort)


def test_limit_with_a_trailing_newline_is_refused():
    with pytest.raises(InvalidParameter, match="limit") as raised:
        parse_list_query({"limit": ["2\n"]})
    assert raised.value.parameter == "limit"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", "2\n"),
        ("limit", "2 "),
        ("sort", "score\n"),
        ("order", "desc\n"),
        ("provider", "openai\n"),
        ("next_token", "{token}\n"),
        ("next_token", "{token}="),
        ("next_token", "{token} "),
    ],
)
def test_every_list_parameter_with_a_trailing_character_is_refused(name, value):
    token = encode_token("|model_name|asc", (False, "gpt-4o", "gpt-4o"))
    assert parse_list_query({"next_token": [token]}).after == (False, "gpt-4o", "gpt-4o")
    with pytest.raises(InvalidParameter) as raised:
        parse_list_query({name: [value.format(token=token)]})
    assert raised.value.parameter == name


def test_health_deep_with_a_trailing_newline_is_refused():
    with pytest.raises(InvalidParameter, match="deep"):
        parse_health_query({"deep": ["true\n"]})


@pytest.mark.parametrize("name", ["provider", "sort", "order", "limit", "next_token"])
def test_a_lone_surrogate_in_any_list_parameter_is_refused_naming_it(name):
    with pytest.raises(InvalidParameter, match="lone surrogate") as raised:
        parse_list_query({name: ["a\ud800"]})
    assert raised.value.parameter == name


def test_a_lone_surrogate_in_a_parameter_name_is_refused_without_echoing_it():
    with pytest.raises(InvalidParameter) as raised:
        parse_list_query({"provider\udc00": ["openai"]})
    # Compared as UTF-8 bytes: text with a lone surrogate cannot be sent, and encoding it raises.
    assert raised.value.parameter.encode("utf-8") == b"provider\\udc00"
    assert b"provider\\udc00" in raised.value.message.encode("utf-8")


def test_token_payload_is_utf8_json_not_escapes():
    token = encode_token("\U0001f600" * 64 + "|model_name|asc", (False, "m", "m"))
    payload = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))[12:]
    assert payload.decode("utf-8").startswith('["' + "\U0001f600" * 64)


def test_token_issued_with_escaped_json_before_utf8_is_still_accepted():
    view_key, key = "\u0130" * 3 + "|score|desc", (False, 88.5, "gpt-4o")
    payload = json.dumps([view_key, list(key)], separators=(",", ":")).encode()  # the old, escaped form
    assert b"\\u0130" in payload
    token = base64.urlsafe_b64encode(query_module._checksum(payload) + payload).decode().rstrip("=")
    assert decode_token(token, view_key, "score") == key


def test_token_for_a_key_holding_a_surrogate_round_trips():
    # The API never issues one (such text is refused), but encoding must not raise on any str.
    key = (False, "x\ud800", "x\ud800")
    assert decode_token(encode_token("|model_name|asc", key), "|model_name|asc", "model_name") == key
