"""The structure the docs describe is the structure of the code.

docs/architecture.md's layout table has a row for every module of `chalicelib/` and every entry of
`scripts/`, and names nothing that does not exist. Its import table lists, for `app.py` and each
module, exactly the `chalicelib` modules the code imports (read with `ast`, lazy imports included),
and the rules it states hold: no cycles, and nothing in `chalicelib` imports the app, `scripts/`,
`bench/` or `tests/`. docs/testing.md names every file under `tests/`, or the directory that holds
it, and every `tests/` path it names exists. No test module imports another test module or a
`conftest.py`: what they share lives in a `support.py`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "chalicelib"
APP = "app.py"
OUTSIDE_THE_PACKAGE = {"app", "scripts", "bench", "tests"}

_CODE = re.compile(r"`([^`]+)`")
_SEPARATOR_ROW = re.compile(r"^\|[\s|:-]+\|$")


# --- reading the docs ----------------------------------------------------------------------------------------


def section(markdown: str, heading: str) -> str:
    """The text under `## heading`, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, flags=re.MULTILINE | re.DOTALL)
    if match is None:
        raise AssertionError(f"no '## {heading}' section")
    return match.group(1)


def table_rows(text: str) -> Iterator[list[str]]:
    """The cells of each body row of every Markdown table in `text` (header and separator rows left out)."""
    header_expected = True
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            header_expected = True
            continue
        if header_expected:
            header_expected = False
            continue
        if _SEPARATOR_ROW.match(line):
            continue
        yield [cell.strip() for cell in line.strip("|").split("|")]


def code_names(cell: str) -> list[str]:
    return _CODE.findall(cell)


def layout_paths(architecture: str) -> set[str]:
    """Every path the layout table's first column names."""
    return {name for row in table_rows(section(architecture, "Layout")) for name in code_names(row[0])}


def documented_imports(architecture: str) -> dict[str, set[str]]:
    """The import table: module -> the `chalicelib` modules its row lists ("nothing" is none)."""
    table: dict[str, set[str]] = {}
    for row in table_rows(section(architecture, "Import direction")):
        imported = set(code_names(row[1]))
        for module in code_names(row[0]):
            if module in table:
                raise AssertionError(f"docs/architecture.md names `{module}` in two rows of the import table")
            table[module] = imported
    return table


# --- reading the code ----------------------------------------------------------------------------------------


def package_modules(root: Path) -> list[str]:
    return sorted(path.stem for path in (root / PACKAGE).glob("*.py") if path.name != "__init__.py")


def imported_names(path: Path) -> Iterator[str]:
    """Every module `path` imports, dotted, wherever the import stands (module level or inside a function)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            # `from chalicelib import deadline` imports the module chalicelib.deadline.
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def package_imports(path: Path, modules: set[str]) -> set[str]:
    """The modules of `chalicelib` that `path` imports."""
    found = set()
    for name in imported_names(path):
        parts = name.split(".")
        if parts[0] == PACKAGE and len(parts) > 1 and parts[1] in modules:
            found.add(parts[1])
    return found


def actual_imports(root: Path) -> dict[str, set[str]]:
    """`app.py` and each module of `chalicelib` -> the modules of `chalicelib` it imports."""
    modules = set(package_modules(root))
    table = {APP: package_imports(root / APP, modules)}
    for module in sorted(modules):
        table[module] = package_imports(root / PACKAGE / f"{module}.py", modules - {module})
    return table


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Each import cycle, found by a depth-first walk, as the list of modules around it."""
    found: list[list[str]] = []
    finished: set[str] = set()

    def walk(node: str, path: list[str]) -> None:
        if node in path:
            found.append(path[path.index(node) :] + [node])
            return
        if node in finished:
            return
        for target in sorted(graph.get(node, ())):
            walk(target, [*path, node])
        finished.add(node)

    for node in sorted(graph):
        walk(node, [])
    return found


def _row(module: str, imports: set[str]) -> str:
    listed = ", ".join(f"`{name}`" for name in sorted(imports)) or "nothing"
    return f"| `{module}` | {listed} |"


# --- the checks, as functions of a tree, so that the tests below can run them on a made-up one -------------


def problems_in_layout(root: Path) -> list[str]:
    named = layout_paths((root / "docs" / "architecture.md").read_text(encoding="utf-8"))
    problems = [
        f"layout table names `{path}`, which does not exist" for path in sorted(named) if not (root / path).exists()
    ]
    for module in package_modules(root):
        if f"{PACKAGE}/{module}.py" not in named:
            problems.append(f"{PACKAGE}/{module}.py has no row in the layout table")
    for entry in sorted((root / "scripts").iterdir()):
        if entry.name in {"__init__.py", "__pycache__"}:
            continue
        name = f"scripts/{entry.name}" + ("/" if entry.is_dir() else "")
        if name not in named:
            problems.append(f"{name} has no row in the layout table")
    return problems


def problems_in_import_table(root: Path) -> list[str]:
    documented = documented_imports((root / "docs" / "architecture.md").read_text(encoding="utf-8"))
    actual = actual_imports(root)
    problems = []
    for module, imports in actual.items():
        if module not in documented:
            problems.append(f"no row for `{module}` in the import table; it needs: {_row(module, imports)}")
        elif documented[module] != imports:
            problems.append(
                f"the import table's row for `{module}` lists {sorted(documented[module])}, the code imports "
                f"{sorted(imports)}: {_row(module, imports)}"
            )
    problems += [
        f"the import table has a row for `{module}`, which is no module"
        for module in documented
        if module not in actual
    ]
    return problems


def paths_named_in(testing: str) -> set[str]:
    """Every `tests/...` path docs/testing.md names, anywhere on the page."""
    return {name for name in code_names(testing) if name.startswith("tests/")}


def files_under_tests(root: Path) -> list[Path]:
    return sorted(
        path
        for path in (root / "tests").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.name != "__init__.py"
    )


def problems_in_testing_doc(root: Path) -> list[str]:
    """A file under tests/ is covered when the page names it, or names the directory that holds it directly."""
    named = paths_named_in((root / "docs" / "testing.md").read_text(encoding="utf-8"))
    problems = [
        f"docs/testing.md names `{path}`, which does not exist" for path in sorted(named) if not (root / path).exists()
    ]
    for path in files_under_tests(root):
        relative = path.relative_to(root)
        if str(relative) not in named and f"{relative.parent}/" not in named:
            problems.append(f"{relative} is not in docs/testing.md, nor is {relative.parent}/")
    return problems


def imports_between_test_modules(root: Path) -> list[str]:
    """Each import, in a test module, of another test module or of a conftest.py."""
    tests = root / "tests"
    problems = []
    for path in sorted(tests.rglob("test_*.py")):
        package = ".".join(path.relative_to(root).parent.parts)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                module = ".".join(part for part in (base, node.module or "") if part)
                names = [module, *(f"{module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                last = name.rsplit(".", 1)[-1]
                if name.startswith("tests.") and (last == "conftest" or last.startswith("test_")):
                    problems.append(f"{path.relative_to(root)}:{node.lineno} imports {name}")
                    break
    return problems


# --- the checks over this repository ---------------------------------------------------------------------------


def test_every_module_and_every_scripts_folder_has_a_layout_row_and_every_row_exists() -> None:
    problems = problems_in_layout(ROOT)
    assert not problems, "docs/architecture.md, ## Layout:\n" + "\n".join(problems)


def test_the_import_table_lists_exactly_what_each_module_imports() -> None:
    problems = problems_in_import_table(ROOT)
    assert not problems, "docs/architecture.md, ## Import direction:\n" + "\n".join(problems)


def test_chalicelib_has_no_import_cycles() -> None:
    assert cycles(actual_imports(ROOT)) == []


def test_chalicelib_imports_nothing_from_the_app_scripts_bench_or_tests() -> None:
    offending = [
        f"{module}.py imports {name}"
        for module in package_modules(ROOT)
        for name in imported_names(ROOT / PACKAGE / f"{module}.py")
        if name.split(".")[0] in OUTSIDE_THE_PACKAGE
    ]
    assert offending == []


def test_every_test_file_is_in_the_testing_doc_and_every_path_it_names_exists() -> None:
    problems = problems_in_testing_doc(ROOT)
    assert not problems, "docs/testing.md:\n" + "\n".join(problems)


def test_no_test_module_imports_another_test_module_or_a_conftest() -> None:
    problems = imports_between_test_modules(ROOT)
    assert not problems, "shared helpers belong in a support.py or a fixture:\n" + "\n".join(problems)


# --- the checker itself, on a made-up tree: it must notice what it is meant to notice ---------------------------

ARCHITECTURE = """# Architecture

## Layout

| path | holds |
|---|---|
| `app.py` | the app |
| `chalicelib/low.py`, `chalicelib/high.py` | two modules |
| `scripts/tools/` | a folder |

## Import direction

| module | imports from `chalicelib` |
|---|---|
| `app.py` | `high` |
| `high` | `low` |
| `low` | nothing |

## Next
"""

TESTING = """# Testing

`tests/conftest.py` sets things up.

| directory | proves |
|---|---|
| `tests/unit/` | the modules |
"""


def made_up_tree(root: Path) -> Path:
    files = {
        "app.py": "from chalicelib import high\n",
        "chalicelib/__init__.py": "",
        "chalicelib/high.py": "def run():\n    from chalicelib.low import VALUE\n\n    return VALUE\n",
        "chalicelib/low.py": "import json\n\nVALUE = 1\n",
        "scripts/__init__.py": "",
        "scripts/tools/__init__.py": "",
        "docs/architecture.md": ARCHITECTURE,
        "docs/testing.md": TESTING,
        "tests/__init__.py": "",
        "tests/conftest.py": "",
        "tests/unit/__init__.py": "",
        "tests/unit/support.py": "HELPER = 1\n",
        "tests/unit/test_high.py": "from .support import HELPER\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_checker_accepts_a_tree_whose_docs_match_it(tmp_path: Path) -> None:
    root = made_up_tree(tmp_path)
    assert actual_imports(root) == {"app.py": {"high"}, "high": {"low"}, "low": set()}  # the lazy import counts
    assert problems_in_layout(root) == []
    assert problems_in_import_table(root) == []
    assert problems_in_testing_doc(root) == []
    assert imports_between_test_modules(root) == []


def test_checker_reports_a_module_added_without_its_rows(tmp_path: Path) -> None:
    root = made_up_tree(tmp_path)
    (root / "chalicelib" / "extra.py").write_text("from chalicelib import low\n")
    assert problems_in_layout(root) == ["chalicelib/extra.py has no row in the layout table"]
    assert problems_in_import_table(root) == ["no row for `extra` in the import table; it needs: | `extra` | `low` |"]


def test_checker_reports_a_changed_import_a_removed_module_and_an_unlisted_scripts_folder(tmp_path: Path) -> None:
    root = made_up_tree(tmp_path)
    (root / "chalicelib" / "low.py").write_text("from chalicelib.high import run\n")
    (root / "scripts" / "tools").rename(root / "scripts" / "other")
    problems = problems_in_import_table(root)
    assert problems == ["the import table's row for `low` lists [], the code imports ['high']: | `low` | `high` |"]
    assert cycles(actual_imports(root)) == [["high", "low", "high"]]
    assert problems_in_layout(root) == [
        "layout table names `scripts/tools/`, which does not exist",
        "scripts/other/ has no row in the layout table",
    ]
    (root / "chalicelib" / "low.py").unlink()
    assert "the import table has a row for `low`, which is no module" in problems_in_import_table(root)


def test_checker_counts_a_directory_for_the_files_directly_in_it_and_no_deeper(tmp_path: Path) -> None:
    root = made_up_tree(tmp_path)
    (root / "tests" / "unit" / "test_more.py").write_text("")
    assert problems_in_testing_doc(root) == []
    (root / "tests" / "unit" / "deeper").mkdir()
    (root / "tests" / "unit" / "deeper" / "test_deep.py").write_text("")
    (root / "tests" / "e2e").mkdir()
    (root / "tests" / "e2e" / "test_end_to_end.py").write_text("")
    (root / "tests" / "test_top.py").write_text("")
    assert problems_in_testing_doc(root) == [
        "tests/e2e/test_end_to_end.py is not in docs/testing.md, nor is tests/e2e/",
        "tests/test_top.py is not in docs/testing.md, nor is tests/",
        "tests/unit/deeper/test_deep.py is not in docs/testing.md, nor is tests/unit/deeper/",
    ]
    (root / "tests" / "conftest.py").unlink()
    assert problems_in_testing_doc(root)[0] == "docs/testing.md names `tests/conftest.py`, which does not exist"


def test_checker_reports_a_test_module_that_imports_another_or_a_conftest(tmp_path: Path) -> None:
    root = made_up_tree(tmp_path)
    imports = ["from .test_high import HELPER", "from . import conftest", "import tests.unit.test_high"]
    (root / "tests" / "unit" / "test_other.py").write_text("\n".join([*imports, "from tests.unit import support", ""]))
    assert imports_between_test_modules(root) == [
        "tests/unit/test_other.py:1 imports tests.unit.test_high",
        "tests/unit/test_other.py:2 imports tests.unit.conftest",
        "tests/unit/test_other.py:3 imports tests.unit.test_high",
    ]
