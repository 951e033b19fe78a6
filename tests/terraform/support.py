"""One way to read an export: HCL through python-hcl2, Chalice's generated JSON as JSON, both in Terraform's JSON form.

Every Terraform test module reads exports through `Export` and checkov through `checkov_clean`; none imports another.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra" / "terraform"
BOOTSTRAP = ROOT / "infra" / "bootstrap"
CONFIG: dict[str, Any] = json.loads((ROOT / ".chalice" / "config.json").read_text())
CHECKOV_VENV = Path(os.environ.get("CHECKOV_VENV", ROOT / ".tools" / "checkov"))
STAGES = ("dev", "prod")

# Nested blocks that may repeat are kept as lists of objects, as Terraform's JSON form writes them; any
# other block that occurs once reads as one object (`resource["lifecycle"]["ignore_changes"]`).
REPEATABLE_BLOCKS = frozenset(
    {
        "attribute",
        "custom_response_body",
        "dimension",
        "metric_query",
        "notification",
        "precondition",
        "postcondition",
        "redacted_fields",
        "rule",
        "subscriber",
        "threshold_expression",
        "validation",
    }
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _template_end(text: str, start: int) -> int:
    """Index just past the `}` that closes the `${` or `%{` at `start` (strings inside it skipped)."""
    depth, position, quoted = 0, start + 1, False
    while position < len(text):
        char = text[position]
        if quoted:
            if char == "\\":
                position += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return position + 1
        position += 1
    raise ValueError(f"unbalanced template in {text!r}")


def interpolations(text: str) -> list[tuple[int, int]]:
    """The (start, end) span of each top-level `${...}` in a string, as Terraform reads them."""
    spans, position = [], text.find("${")
    while position >= 0:
        end = _template_end(text, position)
        spans.append((position, end))
        position = text.find("${", end)
    return spans


def _unquote(text: str) -> str:
    """An HCL quoted template's value (python-hcl2 8 keeps the quotes and escapes), interpolations as written."""
    inner, out, position = text[1:-1], [], 0
    while position < len(inner):
        if inner[position] == "\\":
            following = inner[position + 1]
            if following == "u":
                out.append(chr(int(inner[position + 2 : position + 6], 16)))
                position += 6
            else:
                out.append(_ESCAPES[following])
                position += 2
        elif inner.startswith(("${", "%{"), position) and inner[position - 1 : position] != inner[position]:
            end = _template_end(inner, position)
            out.append(inner[position:end])
            position = end
        else:
            out.append(inner[position])
            position += 1
    return "".join(out)


def _bare(text: str) -> str:
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def _normalise(value: Any, name: str = "") -> Any:
    # References are bare in Terraform's JSON form: depends_on = ["aws_x.y"], provider = "aws.z".
    if isinstance(value, str) and name == "provider" and not value.startswith('"'):
        return _bare(value)
    if isinstance(value, list) and name in ("depends_on", "ignore_changes", "replace_triggered_by"):
        return [_bare(item) for item in value]
    if isinstance(value, str):
        return _unquote(value) if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, dict):
        return {_label(key): _normalise(item, _label(key)) for key, item in value.items() if not key.startswith("__")}
    if isinstance(value, list):
        items = [_normalise(item, name) for item in value]
        is_block = bool(value) and all(isinstance(item, dict) and item.get("__is_block__") for item in value)
        if is_block and len(items) == 1 and name not in REPEATABLE_BLOCKS:
            return items[0]
        return items
    return value


def _label(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def _bare_types(variables: dict[str, Any]) -> dict[str, Any]:
    """A type constraint is bare in Terraform's JSON form: "list(string)", not "${list(string)}"."""
    return {
        name: {**declared, "type": _bare(declared["type"])} if isinstance(declared.get("type"), str) else declared
        for name, declared in variables.items()
    }


def parse_hcl(text: str) -> dict[str, Any]:
    """One HCL file in Terraform's JSON form: {"resource": {kind: {name: body}}, "variable": {...}, ...}."""
    document: dict[str, Any] = {}
    for top, blocks in hcl2.loads(text).items():
        if top.startswith("__"):
            continue
        for block in blocks:
            body = _normalise({key: item for key, item in block.items() if not key.startswith("__")}, top)
            if top in ("resource", "data"):
                for kind, named in body.items():
                    document.setdefault(top, {}).setdefault(kind, {}).update(named)
            elif top in ("locals", "variable", "output", "module"):
                document.setdefault(top, {}).update(_bare_types(body) if top == "variable" else body)
            elif top == "provider":
                for name, settings in body.items():
                    document.setdefault(top, {}).setdefault(name, []).append(settings)
            else:
                document.setdefault(top, []).append(body)
    return document


def read_terraform(directory: Path) -> dict[str, dict[str, Any]]:
    """Every *.tf and *.tf.json file of a directory, parsed, by file name."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.iterdir()):
        if path.name.endswith(".tf.json"):
            files[path.name] = json.loads(path.read_text())
        elif path.name.endswith(".tf"):
            files[path.name] = parse_hcl(path.read_text())
    return files


def strings(value: Any) -> Iterator[str]:
    """Every string in a parsed document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def stage_settings(stage: str) -> dict[str, Any]:
    """The stage's variable values, infra/terraform/stages/<stage>.json."""
    settings: dict[str, Any] = json.loads((INFRA / "stages" / f"{stage}.json").read_text())
    return settings


class Export:
    """One exported directory (a stage, or the bootstrap), parsed."""

    def __init__(self, stage: str, directory: Path) -> None:
        self.stage = stage
        self.directory = directory
        self.files = read_terraform(directory)
        self.chalice = self.files.get("chalice.tf.json", {})
        self.locals = {
            name: value for document in self.files.values() for name, value in document.get("locals", {}).items()
        }
        self.variables = {
            name: value for document in self.files.values() for name, value in document.get("variable", {}).items()
        }
        tfvars = directory / "terraform.tfvars.json"
        self.values: dict[str, Any] = json.loads(tfvars.read_text()) if tfvars.exists() else {}

    def resources(self, kind: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for document in self.files.values():
            merged.update(document.get("resource", {}).get(kind, {}))
        return merged

    def all_resources(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for document in self.files.values():
            for kind, resources in document.get("resource", {}).items():
                for key, body in resources.items():
                    yield kind, key, body

    def outputs(self) -> dict[str, Any]:
        return {name: value for document in self.files.values() for name, value in document.get("output", {}).items()}

    def default(self, variable: str) -> Any:
        """The variable's value in this export: the stage's value, else the variable's default."""
        if variable in self.values:
            return self.values[variable]
        return self.variables[variable].get("default")

    def resolve(self, text: str) -> str:
        """Substitutes the plain-string stage locals, as Terraform would."""
        for name, value in self.locals.items():
            if isinstance(value, str) and "${" not in value:
                text = text.replace("${local." + name + "}", value)
        return text

    def policy(self, role_policy_key: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.resources("aws_iam_role_policy")[role_policy_key]["policy"])
        return document

    def swagger(self, with_api_keys: bool = False) -> dict[str, Any]:
        name = "chalice_api_swagger_with_api_keys" if with_api_keys else "chalice_api_swagger"
        document: dict[str, Any] = json.loads(self.chalice["locals"][name])
        return document


def run_checkov(directory: Path) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    checkov = CHECKOV_VENV / "bin" / "checkov"
    assert checkov.exists(), "checkov tool venv missing: run `make checkov` (make test does it)"
    environment = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run(
        [str(checkov), "-d", str(directory), "--framework", "terraform", "terraform_json"]
        + ["--config-file", str(ROOT / ".checkov.yaml"), "-o", "json"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]
    reports = json.loads(result.stdout)
    return result, reports if isinstance(reports, list) else [reports]


def checkov_clean(directory: Path) -> dict[str, Any]:
    """checkov's reports by check type for `directory`, after asserting it parsed everything and failed nothing."""
    result, reports = run_checkov(directory)
    by_type = {report["check_type"]: report for report in reports}
    failures = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    assert failures == [], directory
    for report in reports:
        assert report["results"]["parsing_errors"] == [], report["results"]["parsing_errors"]
    # checkov logs a crashed check and carries on as if it had not existed.
    assert "Failed to run check" not in result.stderr and "Failed to add block" not in result.stderr
    assert result.returncode == 0
    return by_type


def checked_resources(by_type: dict[str, Any]) -> dict[str, set[str]]:
    """The resources checkov ran at least one passing check on, by file; `<type>.<key>` and `resource.<key>` both."""
    checked: dict[str, set[str]] = {}
    for report in by_type.values():
        for check in report["results"]["passed_checks"]:
            checked.setdefault(check["file_path"].lstrip("/"), set()).add(check["resource"].rpartition(".")[2])
    return checked


# ---- a Terraform expression evaluator, for the conditions these files decide on -----------------------------------

TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<string>\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<name>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[\*\]|\[\"[^\"]*\"\])*)|(?P<op>&&|\|\||==|!=|<=|>=|[!<>?:(),+\-*/%]))"
)
Node = Callable[[dict[str, Any]], Any]
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "||": lambda a, b: a or b,
    "&&": lambda a, b: a and b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "%": lambda a, b: a % b,
}
LEVELS = (("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%"))
LITERALS = {"true": True, "false": False, "null": None}


def _regex(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise ValueError(f"{pattern!r} does not match {text!r}")
    return match.group(0)


def _can(node: Node, environment: dict[str, Any]) -> bool:
    try:
        node(environment)
    except (ValueError, TypeError, KeyError):
        return False
    return True


FUNCTIONS: dict[str, Callable[..., Any]] = {"floor": lambda value: value // 1, "regex": _regex}


class Parser:
    """Parses the subset of Terraform expressions used in counts, preconditions and validations into closures."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str | None, str]] = []
        position = 0
        while text[position:].strip():
            match = TOKEN.match(text, position)
            assert match and match.lastgroup, f"untokenisable at {position}: {text!r}"
            self.tokens.append((match.lastgroup, match.group(match.lastgroup)))
            position = match.end()
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str | None, str]:
        kind, value = self.tokens[self.position]
        assert expected is None or value == expected, f"expected {expected!r}, got {value!r}"
        self.position += 1
        return kind, value

    def expression(self) -> Node:
        condition = self.binary(0)
        if self.peek() != "?":
            return condition
        self.take("?")
        when_true = self.expression()
        self.take(":")
        when_false = self.expression()
        return lambda env: when_true(env) if condition(env) else when_false(env)

    def binary(self, level: int) -> Node:
        if level == len(LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in LEVELS[level]:
            operator = BINARY[self.take()[1]]
            right = self.binary(level + 1)
            left = (lambda op, a, b: lambda env: op(a(env), b(env)))(operator, left, right)
        return left

    def unary(self) -> Node:
        if self.peek() == "!":
            self.take()
            operand = self.unary()
            return lambda env: not operand(env)
        if self.peek() == "-":
            self.take()
            negated = self.unary()
            return lambda env: -negated(env)
        return self.primary()

    def primary(self) -> Node:
        kind, value = self.take()
        if value == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if kind == "number":
            number = float(value)
            return lambda env: number
        if kind == "string":
            text = json.loads(value)
            return lambda env: text
        if self.peek() == "(":
            return self.call(value)
        return lambda env: lookup(value, env)

    def call(self, name: str) -> Node:
        self.take("(")
        arguments = [self.expression()]
        while self.peek() == ",":
            self.take(",")
            arguments.append(self.expression())
        self.take(")")
        if name == "can":
            return lambda env: _can(arguments[0], env)
        # Looked up when evaluated: a branch a conditional does not take may call anything.
        return lambda env: FUNCTIONS[name](*(argument(env) for argument in arguments))


def lookup(name: str, environment: dict[str, Any]) -> Any:
    if name in LITERALS:
        return LITERALS[name]
    kind, _, rest = name.partition(".")
    if kind == "var":
        return environment["var"][rest]
    if kind == "local":
        value = environment["local"][rest]
        return evaluate(value, environment) if isinstance(value, str) and value.startswith("${") else value
    return environment["attributes"][name]


def evaluate(expression: str, environment: dict[str, Any]) -> Any:
    """Evaluates a whole-string interpolation `${...}` (the form every count and condition here takes)."""
    assert expression.startswith("${") and expression.endswith("}"), expression
    parser = Parser(expression[2:-1])
    node = parser.expression()
    assert parser.peek() is None, f"trailing tokens in {expression!r}"
    return node(environment)
