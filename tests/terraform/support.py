"""One way to read an export: HCL through python-hcl2, Chalice's generated JSON as JSON, both in Terraform's JSON form;
and one evaluator, `Plan`, for what `terraform plan` decides from them: which resources an option turns on, what
they are configured with, which combinations the plan refuses.

Every Terraform test module reads exports through `Export` and `Plan`, checkov through `checkov_clean`, and what an
IAM policy allows through `allows`; none imports another.
"""

from __future__ import annotations

import ast
import base64
import functools
import hashlib
import json
import math
import operator
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hcl2
import hcl2.api
from hcl2.utils import process_escape_sequences

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra" / "terraform"
BOOTSTRAP = ROOT / "infra" / "bootstrap"
CONFIG: dict[str, Any] = json.loads((ROOT / ".chalice" / "config.json").read_text())
CHECKOV_VENV = Path(os.environ.get("CHECKOV_VENV", ROOT / ".tools" / "checkov"))
STAGES = ("dev", "prod")
# What a plan reads for the data sources the configurations declare, in a stand-in account and region.
DATA_SOURCES: dict[str, dict[str, Any]] = {
    "aws_caller_identity": {"account_id": "123456789012"},
    "aws_partition": {"partition": "aws", "dns_suffix": "amazonaws.com"},
    "aws_region": {"id": "eu-west-1", "name": "eu-west-1"},
}

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

    def policy(self, role_policy_key: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.resources("aws_iam_role_policy")[role_policy_key]["policy"])
        return document

    def swagger(self) -> dict[str, Any]:
        """The REST API's body as the export wrote it (infra/terraform/api_keys.tf derives the keyed one)."""
        document: dict[str, Any] = json.loads(self.chalice["locals"]["chalice_api_swagger"])
        return document


def emitted_metric_names() -> set[str]:
    """The custom metrics the app can emit, as a superset: every CamelCase string constant in chalicelib/, and
    Cache<State> for each snapshot-cache state (observability.py builds that name from the state)."""
    names = set()
    for path in (ROOT / "chalicelib").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"[A-Z][A-Za-z0-9]+", node.value)
            ):
                names.add(node.value)
    states = re.findall(r'^[A-Z]+ = "([A-Z]+)"$', (ROOT / "chalicelib" / "cache.py").read_text(), flags=re.MULTILINE)
    return names | {f"Cache{state.capitalize()}" for state in states}


def copy_export(export: Export, destination: Path, **values: Any) -> Export:
    """A copy of `export` whose terraform.tfvars.json also sets `values`, as an operator's -var would."""
    shutil.copytree(export.directory, destination)
    tfvars = destination / "terraform.tfvars.json"
    tfvars.write_text(json.dumps({**export.values, **values}, indent=2) + "\n")
    return Export(export.stage, destination)


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


# ---- IAM policy documents as a plan renders them: which statements reach an action on a resource -------------------


def listed(value: Any) -> list[Any]:
    """A policy element that may be one value or a list of them, as a list."""
    return value if isinstance(value, list) else [value]


def matches(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    """IAM's wildcards: `*` any run of characters, `?` any one."""
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def covers(statement: dict[str, Any], action: str, resource: str) -> bool:
    """Whether the statement names the action (IAM action names ignore case) and the resource (ARNs do not)."""
    return any(matches(p, action, case_sensitive=False) for p in listed(statement["Action"])) and any(
        matches(p, resource, case_sensitive=True) for p in listed(statement["Resource"])
    )


def allows(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    """Whether the statements allow the action on the resource, conditions left aside; an explicit deny wins."""
    if any(s["Effect"] == "Deny" and covers(s, action, resource) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and covers(s, action, resource) for s in statements)


def allows_anywhere(statements: list[dict[str, Any]], action: str) -> bool:
    """Whether any Allow statement names the action, on whatever resource."""
    return any(
        s["Effect"] == "Allow" and any(matches(p, action, case_sensitive=False) for p in listed(s["Action"]))
        for s in statements
    )


# ---- the one evaluator: Terraform expressions, parsed by python-hcl2, walked here ----------------------------------

Scope = dict[str, Any]
# Functions that pass values through without looking inside them: an unknown element stays an element.
STRUCTURAL_FUNCTIONS = frozenset({"concat", "flatten", "length", "merge", "one", "tomap"})
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "alltrue": lambda values: all(values),
    "concat": lambda *lists: [item for values in lists for item in values],
    "contains": lambda collection, value: value in collection,
    "filebase64sha256": lambda path: base64.b64encode(hashlib.sha256(Path(path).read_bytes()).digest()).decode(),
    "flatten": lambda values: [
        leaf for item in values for leaf in (FUNCTIONS["flatten"](item) if isinstance(item, list) else [item])
    ],
    "floor": math.floor,
    "format": lambda specification, *values: specification % tuple(values),
    "join": lambda separator, values: separator.join(values),
    "jsondecode": json.loads,
    "jsonencode": lambda value: json.dumps(value, sort_keys=True, separators=(",", ":")),
    "length": len,
    "merge": lambda *mappings: {key: value for mapping in mappings for key, value in (mapping or {}).items()},
    "one": lambda values: _one(values),
    "regex": lambda pattern, text: _regex(pattern, text),
    "sha1": lambda text: hashlib.sha1(text.encode()).hexdigest(),
    "split": lambda separator, text: text.split(separator),
    "startswith": lambda text, prefix: text.startswith(prefix),
    "tomap": dict,
    "tonumber": lambda value: _number(float(value)),
    "toset": frozenset,
    "trimsuffix": lambda text, suffix: text.removesuffix(suffix),
    "upper": str.upper,
}
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "||": lambda a, b: a or b,
    "&&": lambda a, b: a and b,
    "==": lambda a, b: _equal(a, b),
    "!=": lambda a, b: not _equal(a, b),
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
}


class Unknown(str):
    """A value only an apply knows (a computed attribute, a data source), kept as its expression's text.

    As in a plan, whatever is computed from an unknown value is unknown too.
    """


def _one(values: Any) -> Any:
    if len(values) > 1:
        raise ValueError(f"one() of {len(values)} elements")
    return next(iter(values), None)


def _regex(pattern: str, text: str) -> str:
    """Terraform's regex() as the configurations use it, inside can(): no match is an error."""
    match = re.search(pattern, text)
    if match is None:
        raise ValueError(f"{pattern!r} does not match {text!r}")
    return match.group(0)


def _number(value: float) -> int | float:
    return int(value) if value == int(value) else value


def _equal(left: Any, right: Any) -> bool:
    # Terraform's true is not 1, as Python's is.
    return isinstance(left, bool) == isinstance(right, bool) and bool(left == right)


def _has_unknown(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_unknown(item) for item in value.values())
    if isinstance(value, (list, frozenset)):
        return any(_has_unknown(item) for item in value)
    return isinstance(value, Unknown)


def _render(value: Any) -> str:
    """A value as Terraform writes it into a string template."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(_number(value))
    if isinstance(value, (int, str)):
        return str(value)
    raise TypeError(f"Terraform cannot write {value!r} into a string")


@functools.cache
def _parse(template: str) -> Any:
    """A string in Terraform's JSON form (a template, `${...}` spans as written) as python-hcl2's expression tree."""
    pieces, position = [], 0
    for start, end in [*interpolations(template), (len(template), len(template))]:
        literal = template[position:start].replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        pieces += [literal, template[start:end]]
        position = end
    return hcl2.api.parses('value = "' + "".join(pieces) + '"').body.children[0].expression


class _Block(dict[str, Any]):
    """A resource's nested block: an attribute its configuration leaves out is computed, so Unknown, not missing."""

    def __init__(self, values: dict[str, Any], address: str) -> None:
        super().__init__(values)
        self.address = address


class _Locals:
    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator


class _Instance:
    """One instance of a resource: what its configuration says is known at plan; anything else is computed."""

    def __init__(self, evaluator: Evaluator, address: str, body: dict[str, Any], scope: Scope, key: Any) -> None:
        self.evaluator, self.address, self.body, self.scope = evaluator, address, body, scope
        self.key = key  # the count index or for_each key; None without either

    def attribute(self, name: str) -> Any:
        if name in self.body and name not in ("count", "for_each", "depends_on", "lifecycle", "provider"):
            value = self.evaluator.value(self.body[name], self.scope)
            if isinstance(value, Unknown):
                return Unknown(f"{self.address}.{name}")  # as a plan shows it: known after apply
            return _Block(value, f"{self.address}.{name}") if isinstance(value, dict) else value
        return self.evaluator.applied.get(f"{self.address}.{name}", Unknown(f"{self.address}.{name}"))


class Evaluator:
    """What a plan knows of a configuration's expressions, given its variables' values.

    python-hcl2 parses each expression, so Terraform's grammar and precedence are the parser's; this class says
    what each node of the tree means. A resource's attribute resolves to its configuration where that sets it, as
    in a plan; computed attributes and data sources are `Unknown`.
    """

    def __init__(
        self,
        variables: dict[str, Any],
        local_values: dict[str, Any],
        resources: dict[str, dict[str, Any]],
        data_sources: dict[str, dict[str, Any]],
        directory: Path,
    ) -> None:
        self.variables, self.local_values, self.resources = variables, local_values, resources
        self.data_sources, self.directory = data_sources, directory
        # Computed attributes an earlier apply recorded in state, by address: `aws_lambda_alias.live[0].invoke_arn`.
        self.applied: dict[str, Any] = {}
        self._locals: dict[str, Any] = {}

    def value(self, value: Any, scope: Scope | None = None) -> Any:
        """`value` with each string evaluated as a Terraform template, through dicts and lists."""
        if isinstance(value, str):
            return self._walk(_parse(value), scope or {}) if "${" in value else value
        if isinstance(value, dict):
            return {key: self.value(item, scope) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item, scope) for item in value]
        return value

    def forget_locals(self) -> None:
        self._locals.clear()

    def local(self, name: str) -> Any:
        if name not in self._locals:
            self._locals[name] = self.value(self.local_values[name])
        return self._locals[name]

    def instances(self, kind: str, key: str) -> list[_Instance] | Unknown:
        """The resource's instances for these variables: one, one per count index, or one per for_each key."""
        body, address = self.resources[kind][key], f"{kind}.{key}"
        if "count" in body:
            number = self.value(body["count"])
            if isinstance(number, Unknown):
                return number
            return [_Instance(self, f"{address}[{i}]", body, {"count": {"index": i}}, i) for i in range(int(number))]
        if "for_each" in body:
            each = self.value(body["for_each"])
            if _has_unknown(each):
                return Unknown(address)
            pairs = sorted(each.items()) if isinstance(each, dict) else [(item, item) for item in sorted(each)]
            return [_Instance(self, f"{address}[{k!r}]", body, {"each": {"key": k, "value": v}}, k) for k, v in pairs]
        return [_Instance(self, address, body, {}, None)]

    def _walk(self, node: Any, scope: Scope) -> Any:
        """The value of one node of python-hcl2's tree, by the kind of node."""
        handlers: dict[str, Callable[[Any, Scope], Any]] = {
            "ExprTermRule": lambda node, scope: self._walk(node.expression, scope),
            "IntLitRule": lambda node, scope: node.serialize(),
            "FloatLitRule": lambda node, scope: node.serialize(),
            "LiteralValueRule": lambda node, scope: node.serialize(),
            "StringRule": self._template,
            "TupleRule": lambda node, scope: [self._walk(element, scope) for element in node.elements],
            "ObjectRule": lambda node, scope: {
                self._key(element.key, scope): self._walk(element.expression, scope) for element in node.elements
            },
            "IdentifierRule": lambda node, scope: self._name(str(node.token), scope),
            "GetAttrExprTermRule": lambda node, scope: self._access(
                self._walk(node.expr_term, scope), node.get_attr, scope
            ),
            "IndexExprTermRule": lambda node, scope: self._access(
                self._walk(node.children[0], scope), node.children[1], scope
            ),
            "FullSplatExprTermRule": self._splat,
            "AttrSplatExprTermRule": self._splat,
            "ConditionalRule": self._conditional,
            "UnaryOpRule": self._operation,
            "BinaryOpRule": self._operation,
            "FunctionCallRule": self._call,
            "ForTupleExprRule": self._for,
            "ForObjectExprRule": self._for,
        }
        handler = handlers.get(type(node).__name__)
        if handler is None:
            raise NotImplementedError(f"{type(node).__name__}: {node.serialize()}")
        return handler(node, scope)

    def _conditional(self, node: Any, scope: Scope) -> Any:
        condition = self._walk(node.condition, scope)
        if isinstance(condition, Unknown):
            return Unknown(node.serialize())
        return self._walk(node.if_true if condition else node.if_false, scope)  # the branch not taken is not read

    def _operation(self, node: Any, scope: Scope) -> Any:
        if type(node).__name__ == "UnaryOpRule":
            operand = self._walk(node.expr_term, scope)
            if isinstance(operand, Unknown):
                return Unknown(node.serialize())
            return not operand if node.operator.strip() == "!" else -operand
        # Terraform evaluates both sides of && and || (no short-circuit), and so does this.
        operands = [self._walk(node.expr_term, scope), self._walk(node.binary_term.expr_term, scope)]
        if any(isinstance(operand, Unknown) for operand in operands):
            return Unknown(node.serialize())
        return BINARY[str(node.binary_term.binary_operator.serialize()).strip()](*operands)

    def _name(self, name: str, scope: Scope) -> Any:
        if name in scope:
            return scope[name]
        if name == "var":
            return self.variables
        if name == "local":
            return _Locals(self)
        if name == "path":
            return {"module": str(self.directory), "root": str(self.directory)}
        if name == "data":
            return self.data_sources
        if name in self.resources:
            return {key: self.instances(name, key) for key in self.resources[name]}
        return Unknown(name)  # data sources, and resource types this configuration does not have

    def _key(self, key: Any, scope: Scope) -> str:
        if type(key).__name__ == "ObjectElemKeyExpressionRule":
            return str(self._walk(key.expression, scope))
        inner = key.value
        return str(inner.token) if type(inner).__name__ == "IdentifierRule" else str(self._walk(inner, scope))

    def _access(self, base: Any, accessor: Any, scope: Scope) -> Any:
        """`base.name`, `base[index]` or `base.0`."""
        kind = type(accessor).__name__
        if kind == "GetAttrRule":
            key: Any = str(accessor.identifier.token)
        elif kind == "ShortIndexRule":
            key = int(str(accessor.index))
        else:
            key = self._walk(accessor.index_expression, scope)
        if isinstance(base, Unknown) or isinstance(key, Unknown):
            return Unknown(f"{base}{accessor.serialize()}")
        if isinstance(base, _Locals):
            return self.local(key)
        if isinstance(base, list) and all(isinstance(item, _Instance) for item in base) and base:
            if base[0].key is not None:
                (instance,) = [item for item in base if item.key == key]
                return instance
            base = base[0]  # a resource without count or for_each is referenced without an index
        if isinstance(base, _Instance):
            return base.attribute(key)
        if isinstance(base, dict) and key == 0:
            return base  # a nested block that occurs once reads as an object here, as a one-element list in Terraform
        if isinstance(base, _Block) and key not in base:
            return Unknown(f"{base.address}.{key}")
        return base[key]

    def _splat(self, node: Any, scope: Scope) -> Any:
        base = self._walk(node.expr_term, scope)
        if isinstance(base, Unknown):
            return Unknown(node.serialize())
        items = base if isinstance(base, list) else [] if base is None else [base]
        results = []
        for item in items:
            for accessor in node.attr_splat.get_attrs:
                item = self._access(item, accessor, scope)
            results.append(item)
        return results

    def _template(self, node: Any, scope: Scope) -> Any:
        parts = [part.content for part in node.string_parts]
        if len(parts) == 1 and type(parts[0]).__name__ == "InterpolationRule":
            return self._walk(parts[0].expression, scope)  # "${x}" is x itself, of whatever type
        rendered = []
        for part in parts:
            if type(part).__name__ == "InterpolationRule":
                value = self._walk(part.expression, scope)
                if _has_unknown(value):
                    return Unknown(node.serialize())
                rendered.append(_render(value))
            elif type(part).__name__ in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
                rendered.append(str(part)[1:])
            elif type(part).__name__ == "StringToken" or "STRING_CHARS" in type(part).__name__:
                rendered.append(process_escape_sequences(str(part)))
            else:
                raise NotImplementedError(f"template directive {node.serialize()}")
        return "".join(rendered)

    def _call(self, node: Any, scope: Scope) -> Any:
        name = str(node.identifiers[-1].token)
        arguments = node.arguments.arguments if node.arguments else []
        if name in ("can", "try"):
            for argument in arguments:
                try:
                    value = self._walk(argument, scope)
                except (ValueError, KeyError, TypeError, IndexError):
                    if name == "can":
                        return False
                    continue
                return value if name == "try" or isinstance(value, Unknown) else True
            raise ValueError(f"no argument of {node.serialize()} evaluates")
        values = [self._walk(argument, scope) for argument in arguments]
        if name == "templatefile":
            return self._templatefile(*values)
        if name not in FUNCTIONS:
            raise NotImplementedError(f"Terraform function {name}() is not evaluated here")
        unknown = any(_has_unknown(value) for value in values)
        if unknown and (name not in STRUCTURAL_FUNCTIONS or any(isinstance(value, Unknown) for value in values)):
            return Unknown(node.serialize())
        return FUNCTIONS[name](*values)

    def _templatefile(self, path: str, arguments: dict[str, Any]) -> Any:
        text = (self.directory / Path(path).name).read_text()
        return self._walk(_parse(text), arguments) if "${" in text else text

    def _for(self, node: Any, scope: Scope) -> Any:
        intro = node.for_intro
        collection = self._walk(intro.iterable, scope)
        if isinstance(collection, Unknown):
            return Unknown(node.serialize())
        if isinstance(collection, dict):
            pairs = sorted(collection.items())
        elif isinstance(collection, frozenset):
            pairs = [(item, item) for item in sorted(collection)]
        else:
            pairs = list(enumerate(collection))
        first = str(intro.first_iterator.token)
        second = str(intro.second_iterator.token) if intro.second_iterator else None
        keyed = type(node).__name__ == "ForObjectExprRule"
        results: Any = {} if keyed else []
        for key, item in pairs:
            inner = {**scope, first: key, second: item} if second else {**scope, first: item}
            if node.condition is not None and not self._walk(node.condition.condition_expr, inner):
                continue
            value = self._walk(node.value_expr, inner)
            if keyed and node.ellipsis:
                results.setdefault(self._walk(node.key_expr, inner), []).append(value)
            elif keyed:
                results[self._walk(node.key_expr, inner)] = value
            else:
                results.append(value)
        return results


class Plan:
    """What `terraform plan` decides for an export, with `variables` over the stage's values, as far as variables,
    locals and configuration decide it: a value that only an apply knows is `Unknown`."""

    def __init__(self, export: Export, **variables: Any) -> None:
        values = {name: export.default(name) for name in export.variables}
        undeclared = set(variables) - set(values)
        assert not undeclared, f"no such variable: {sorted(undeclared)}"
        resources: dict[str, dict[str, Any]] = {}
        for kind, key, body in export.all_resources():
            resources.setdefault(kind, {})[key] = body
        # Merged across files: two files may each declare a data source of the same type under their own names.
        data_sources: dict[str, dict[str, Any]] = {}
        for document in export.files.values():
            for kind, declared in document.get("data", {}).items():
                data_sources.setdefault(kind, {}).update({key: DATA_SOURCES[kind] for key in declared})
        self.export = export
        self.evaluator = Evaluator({**values, **variables}, export.locals, resources, data_sources, export.directory)

    def knowing(self, applied: dict[str, Any]) -> Plan:
        """This plan, as it would be once an earlier apply recorded these computed attributes in state, by address:
        `{"aws_lambda_alias.live[0].invoke_arn": "arn:..."}`."""
        self.evaluator.applied = applied
        self.evaluator.forget_locals()
        return self

    def value(self, value: Any, **scope: Any) -> Any:
        """`value` (a string, or a dict or list of them) as Terraform evaluates it, with `scope` (each, count)."""
        return self.evaluator.value(value, scope)

    def instances(self) -> dict[str, int]:
        """`kind.key` -> how many instances the plan has; -1 where that depends on a value only an apply knows."""
        counted = {}
        for kind, key, _ in self.export.all_resources():
            planned = self.evaluator.instances(kind, key)
            counted[f"{kind}.{key}"] = -1 if isinstance(planned, Unknown) else len(planned)
        return counted

    def planned(self, *prefixes: str) -> set[str]:
        """The resources (`kind.key`) whose address starts with one of `prefixes` and that have an instance."""
        counted = {address: number for address, number in self.instances().items() if address.startswith(prefixes)}
        return {address for address, number in counted.items() if number != 0}

    def resource(self, kind: str, key: str, instance: Any = None) -> dict[str, Any]:
        """A planned instance of a resource, evaluated, `dynamic` blocks rendered: by count index or for_each key, or
        the only one. Raises LookupError when the plan has no such instance."""
        instances = self.evaluator.instances(kind, key)
        assert not isinstance(instances, Unknown), f"{kind}.{key}: its instances are known only at apply"
        for item in instances:
            if item.key == instance or (instance is None and len(instances) == 1):
                return self._rendered(item.body, item.scope)
        raise LookupError(f"{kind}.{key}[{instance!r}] is not planned")

    def every(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every planned instance of every resource of `kind`, evaluated: (address, resource)."""
        for key in self.evaluator.resources.get(kind, {}):
            instances = self.evaluator.instances(kind, key)
            assert not isinstance(instances, Unknown), f"{kind}.{key}: its instances are known only at apply"
            for instance in instances:
                yield instance.address, self._rendered(instance.body, instance.scope)

    def refusals(self, *prefixes: str) -> list[str]:
        """The error message of each precondition the plan fails, over every instance it plans (of the resources
        whose address starts with one of `prefixes`, if given)."""
        messages = []
        for kind, key, body in self.export.all_resources():
            if prefixes and not f"{kind}.{key}".startswith(prefixes):
                continue
            preconditions = body.get("lifecycle", {}).get("precondition", [])
            instances = self.evaluator.instances(kind, key) if preconditions else []
            for instance in [] if isinstance(instances, Unknown) else instances:
                for precondition in preconditions:
                    # A condition on a computed value is checked at apply, not refused by the plan.
                    if self.value(precondition["condition"], **instance.scope) is False:
                        messages.append(self.value(precondition["error_message"], **instance.scope))
        return messages

    def valid(self, variable: str) -> bool:
        """Whether the variable's value passes every validation block it declares."""
        rules = self.export.variables[variable].get("validation", [])
        return all(self.value(rule["condition"]) is True for rule in rules)

    def _rendered(self, body: dict[str, Any], scope: Scope) -> dict[str, Any]:
        rendered: dict[str, Any] = {}
        for name, value in body.items():
            if name == "dynamic":
                for dynamic in value if isinstance(value, list) else [value]:
                    for label, block in dynamic.items():
                        iterator = block.get("iterator", label)
                        collection = self.value(block["for_each"], **scope)
                        pairs = collection.items() if isinstance(collection, dict) else enumerate(collection)
                        contents = [
                            self._rendered(block["content"], {**scope, iterator: {"key": k, "value": v}})
                            for k, v in pairs
                        ]
                        if contents:
                            rendered[label] = contents[0] if len(contents) == 1 else contents
            elif isinstance(value, dict):
                rendered[name] = self._rendered(value, scope)
            elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
                rendered[name] = [self._rendered(item, scope) for item in value]
            else:
                rendered[name] = self.value(value, **scope)
        return rendered
