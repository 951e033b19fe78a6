"""openapi.yaml's Provider schema and `parse_list_query` accept exactly the same provider values.

The fuzzer once drew `provider=%1D`: the schema's old `pattern: \\S` (ECMA-262, where U+001D is not
whitespace) accepted it, the code's bare `str.strip()` (where it is) trimmed it to nothing and answered
400. Both sides now spell the rule out in explicit character sets; these tests compare them character by
character, reading the schema the way schemathesis does:

- responses and the examples phase are checked by `jsonschema_rs` (ECMA-262 semantics), with the
  Draft 4 validator schemathesis uses for OpenAPI 3.0;
- values are generated from the pattern as Python `re` reads it, with `re.ASCII` and a closing `$`
  read as the end of the string (`compile_ecma_pattern`), so that reading must agree too.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from schemathesis.core.jsonschema.patterns import compile_ecma_pattern

from chalicelib.models import PROVIDER_WHITESPACE
from chalicelib.query import MAX_PROVIDER_LENGTH, InvalidParameter, parse_list_query

ROOT = Path(__file__).resolve().parents[2]

# Every Latin-1 character (C0, ASCII, DEL, C1, NBSP) and every other character some engine calls
# whitespace: Unicode's White_Space, ECMA's \s (adds U+FEFF), and the zero-width space U+200B that none does.
EDGE_CHARACTERS = [
    chr(code)
    for code in [
        *range(0x00, 0xA1),
        0x1680,
        *range(0x2000, 0x200C),
        0x2028,
        0x2029,
        0x202F,
        0x205F,
        0x3000,
        0xFEFF,
    ]
]


@pytest.fixture(scope="module")
def provider_schema() -> dict[str, Any]:
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    return spec["components"]["parameters"]["Provider"]["schema"]


@pytest.fixture(scope="module")
def schema_accepts(provider_schema):
    return jsonschema_rs.Draft4Validator(provider_schema).is_valid


@pytest.fixture(scope="module")
def generator_pattern(provider_schema) -> re.Pattern[str]:
    compiled = compile_ecma_pattern(provider_schema["pattern"])
    assert compiled is not None, "schemathesis cannot read the pattern, so it would not generate from it"
    return compiled


def code_accepts(value: str) -> bool:
    try:
        parse_list_query({"provider": [value]})
    except InvalidParameter as error:
        assert error.parameter == "provider"
        return False
    return True


def is_control(character: str) -> bool:
    return unicodedata.category(character) == "Cc"


def test_every_edge_character_is_accepted_alike_by_code_schema_and_generator(schema_accepts, generator_pattern):
    disagreements = []
    for character in EDGE_CHARACTERS:
        for value in (character, "a" + character, character + "a", "a" + character + "a"):
            code = code_accepts(value)
            schema = schema_accepts(value)
            generator = generator_pattern.search(value) is not None
            if not code == schema == generator:
                disagreements.append((value, {"code": code, "schema": schema, "generator": generator}))
    assert disagreements == []


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("\x1d", False),  # the value that failed CI: a control character, not whitespace, in ECMA-262
        ("a\x1d", False),
        ("\t", False),
        ("\x85", False),  # NEL: Python's strip() trims it, ECMA's \s does not; a control character either way
        ("\x7f", False),
        (" ", False),
        ("\u3000\u2029", False),
        ("", False),
        ("\ufeff", True),  # ECMA's \s has U+FEFF, Unicode's White_Space does not: it is a character
        ("\u200b", True),
        ("a" * MAX_PROVIDER_LENGTH, True),
        ("a" * (MAX_PROVIDER_LENGTH + 1), False),
        (" " + "a" * (MAX_PROVIDER_LENGTH - 1), True),
        (" " + "a" * MAX_PROVIDER_LENGTH, False),  # the limit is on the value as sent, as maxLength reads it
    ],
)
def test_named_edge_cases_are_decided_alike_by_code_and_schema(value, accepted, schema_accepts, generator_pattern):
    assert code_accepts(value) is accepted
    assert schema_accepts(value) is accepted
    # maxLength is not part of the pattern; the generator reads only the pattern.
    if len(value) <= MAX_PROVIDER_LENGTH:
        assert (generator_pattern.search(value) is not None) is accepted


@pytest.mark.parametrize(
    ("value", "provider"),
    [
        (" OpenAI ", "openai"),
        ("\u3000OpenAI\u2029", "openai"),
        ("\xa0Open AI\u202f", "open ai"),
        ("\ufeffOpenAI", "\ufeffopenai"),
    ],
)
def test_accepted_provider_is_trimmed_of_whitespace_only_and_lower_cased(value, provider):
    assert parse_list_query({"provider": [value]}).provider == provider


def test_trimmed_whitespace_is_unicode_white_space_without_control_characters():
    # So trimming here equals str.strip() on control-free text, which is how stored providers are trimmed.
    unicode_white_space = {chr(code) for code in range(0x110000) if chr(code).isspace() and not is_control(chr(code))}
    assert set(PROVIDER_WHITESPACE) == unicode_white_space


def test_trimmed_whitespace_is_ecma_whitespace_without_control_characters_and_byte_order_mark():
    # Pins the deliberate difference from ECMA-262's \s, as jsonschema_rs reads it, to U+FEFF alone.
    ecma_space = jsonschema_rs.Draft4Validator({"pattern": r"^\s$"}).is_valid
    characters = (chr(code) for code in range(0x10000) if not 0xD800 <= code <= 0xDFFF)
    ecma_white_space = {character for character in characters if ecma_space(character) and not is_control(character)}
    assert ecma_white_space == set(PROVIDER_WHITESPACE) | {"\ufeff"}


def test_examples_in_the_document_are_accepted_by_code_and_schema(schema_accepts):
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    examples = [example["value"] for example in spec["components"]["parameters"]["Provider"]["examples"].values()]
    assert len(examples) >= 3
    # schemathesis silently drops an example its validator rejects, so a wrong one would test nothing.
    assert all(schema_accepts(value) and code_accepts(value) for value in examples), examples
