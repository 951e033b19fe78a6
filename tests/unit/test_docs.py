"""The documentation stays navigable and true to the repository.

README.md stays short. Every relative link and `#anchor` in README.md and docs/ resolves. Every
document is reachable from README.md or the decision index. Every `make` target the docs name
exists in the Makefile. Plain file reads only: no network, no imports of the app.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
DECISIONS = DOCS / "decisions"
DECISION_INDEX = DECISIONS / "README.md"
MAKEFILE = ROOT / "Makefile"
README_MAX_LINES = 200

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) and ![alt](target), with an optional "title"; text may hold one level of brackets.
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_DECISION_NAME = re.compile(r"^(\d{4})-[a-z0-9]+(?:-[a-z0-9]+)*\.md$")
_MAKE_COMMAND = re.compile(r"(?:^|[\s;&|(])make((?:\s+[^\s;&|)#`]+)+)")
_MAKE_TARGET_LINE = re.compile(r"^([A-Za-z0-9_.%/-]+(?:\s+[A-Za-z0-9_.%/-]+)*)\s*::?(?!=)")


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def split_prose_and_code(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(line number, line) pairs outside fenced code blocks, and inside them."""
    prose: list[tuple[int, str]] = []
    code: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if match and (fence is None or match.group(1) == fence):
            fence = match.group(1) if fence is None else None
            continue
        (code if fence else prose).append((number, line))
    return prose, code


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower-case, punctuation dropped (not `-` or `_`), spaces to hyphens."""
    # Outside code spans, a link keeps only its text and HTML tags vanish; inside them, `<x>` is text.
    parts = []
    for index, part in enumerate(re.split(r"(`+[^`]+`+)", heading)):
        if index % 2:
            parts.append(part.strip("`"))
        else:
            parts.append(re.sub(r"<[^>]+>", "", re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", part)))
    text = "".join(parts).strip().lower()
    text = "".join(character for character in text if character.isalnum() or character in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every `#anchor` GitHub generates for the file's headings, numbering repeats as GitHub does."""
    prose, _ = split_prose_and_code(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in prose:
        match = _HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, target) for each Markdown link outside code: inline, image, or reference definition."""
    prose, _ = split_prose_and_code(path.read_text(encoding="utf-8"))
    for number, line in prose:
        definition = _REFERENCE_DEFINITION.match(line)
        if definition:
            yield number, definition.group(1)
            continue
        for match in _INLINE_LINK.finditer(_INLINE_CODE.sub("", line)):
            yield number, match.group(1)


def broken_links(path: Path) -> list[str]:
    """Each relative link in `path` whose file, or whose `#anchor` in a Markdown file, does not exist."""
    problems = []
    for number, target in links(path):
        if _EXTERNAL.match(target):
            continue
        location, _, fragment = target.partition("#")
        destination = (path.parent / unquote(location)).resolve() if location else path
        where = f"{_relative(path)}:{number}: link '{target}'"
        if not destination.exists():
            problems.append(f"{where}: {_relative(destination)} does not exist")
        elif (
            fragment
            and destination.suffix == ".md"
            and destination.is_file()
            and unquote(fragment).lower() not in anchors(destination)
        ):
            problems.append(f"{where}: no heading in {_relative(destination)} has the anchor #{fragment}")
    return problems


def linked_files(path: Path) -> set[Path]:
    """The files `path` links to (directories resolve to their README.md)."""
    found = set()
    for _, target in links(path):
        location = target.partition("#")[0]
        if not location or _EXTERNAL.match(location):
            continue
        destination = (path.parent / unquote(location)).resolve()
        found.add(destination / "README.md" if destination.is_dir() else destination)
    return found


def make_targets_named(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, target) for each `make <target>` in inline code or in a fenced code block."""
    prose, code = split_prose_and_code(path.read_text(encoding="utf-8"))
    snippets = [(number, match.group(2)) for number, line in prose for match in _INLINE_CODE.finditer(line)]
    snippets += [(number, line.split("#", 1)[0]) for number, line in code]
    for number, snippet in snippets:
        # A command substitution in an argument (`URL="$(terraform output -raw …)"`) is a value, not targets.
        snippet = re.sub(r"\$\([^)]*\)", "VALUE", snippet)
        for command in _MAKE_COMMAND.finditer(snippet):
            try:
                words = shlex.split(command.group(1))  # keeps `URL="$(terraform output …)"` one word
            except ValueError:
                words = command.group(1).split()
            for word in words:
                if "=" not in word and not word.startswith("-") and not word.startswith("<"):
                    yield number, word


def makefile_targets(makefile: Path = MAKEFILE) -> set[str]:
    targets: set[str] = set()
    for line in makefile.read_text(encoding="utf-8").splitlines():
        if line.startswith(("\t", "#", " ")):
            continue
        match = _MAKE_TARGET_LINE.match(line)
        if match:
            targets.update(match.group(1).split())
    return targets


# --- the checks over this repository ---------------------------------------------------------------------------


def test_readme_is_at_most_200_lines() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/ (limit {README_MAX_LINES})"


@pytest.mark.parametrize("path", markdown_files(), ids=_relative)
def test_every_relative_link_and_anchor_resolves(path: Path) -> None:
    problems = broken_links(path)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_every_document_is_linked_from_the_readme_or_the_decision_index() -> None:
    reachable = linked_files(README) | linked_files(DECISION_INDEX)
    orphans = [_relative(path) for path in sorted(DOCS.rglob("*.md")) if path.resolve() not in reachable]
    assert orphans == [], f"not linked from README.md or docs/decisions/README.md: {orphans}"


def test_decision_records_are_numbered_in_sequence() -> None:
    names = sorted(path.name for path in DECISIONS.glob("*.md") if path != DECISION_INDEX)
    matches = {name: _DECISION_NAME.match(name) for name in names}
    badly_named = [name for name, match in matches.items() if match is None]
    assert badly_named == [], f"decision records are named NNNN-title.md: {badly_named}"
    numbers = [int(match.group(1)) for match in matches.values() if match is not None]
    assert numbers == list(range(1, len(numbers) + 1)), f"numbers must run 0001, 0002, ... without gaps: {names}"


@pytest.mark.parametrize("path", markdown_files(), ids=_relative)
def test_every_make_target_named_exists_in_the_makefile(path: Path) -> None:
    targets = makefile_targets()
    missing = [f"{_relative(path)}:{number}: make {word}" for number, word in make_targets_named(path)]
    missing = [entry for entry in missing if entry.rsplit(" ", 1)[1] not in targets]
    assert not missing, "not a target in the Makefile:\n" + "\n".join(missing)


# --- the checker itself: it must notice what it is meant to notice ---------------------------------------------


def test_slugs_follow_githubs_rules() -> None:
    assert github_slug("Migrating a stage created by `chalice deploy`") == "migrating-a-stage-created-by-chalice-deploy"
    assert github_slug("Benchmark: `make bench`") == "benchmark-make-bench"
    assert github_slug("`<prefix>-api-5xx` (AWS/ApiGateway 5XXError above threshold)") == (
        "prefix-api-5xx-awsapigateway-5xxerror-above-threshold"
    )
    assert github_slug("Cold start or DynamoDB?") == "cold-start-or-dynamodb"
    assert github_slug("`CACHE_TTL_SECONDS`") == "cache_ttl_seconds"


def test_checker_reports_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "target.md").write_text("# Target\n\n## Real section\n\n```\n# not a heading\n```\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](target.md#real-section) [ok](#page) [ok](https://example.com/missing)\n"
        "# Page\n"
        "[gone](missing.md) [bad anchor](target.md#no-such-section) [code anchor](target.md#not-a-heading)\n"
        "`[in code](missing.md)`\n"
    )
    problems = broken_links(page)
    assert len(problems) == 3, problems
    assert "missing.md does not exist" in problems[0]
    assert "#no-such-section" in problems[1]
    assert "#not-a-heading" in problems[2]


def test_checker_ignores_links_and_headings_inside_code_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n```\n[x](missing.md)\n# Fake heading\n```\n\n~~~\n[y](missing.md)\n~~~\n")
    assert broken_links(page) == []
    assert anchors(page) == {"page"}


def test_repeated_headings_get_numbered_anchors(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Notes\n## Notes\n## Notes\n")
    assert anchors(page) == {"notes", "notes-1", "notes-2"}


def test_make_targets_are_read_from_code_and_checked_against_the_makefile(tmp_path: Path) -> None:
    makefile = tmp_path / "Makefile"
    makefile.write_text(".PHONY: run test\nrun: install\n\t@echo run\ntest lint: run\nX := 1\n")
    assert makefile_targets(makefile) == {".PHONY", "run", "test", "lint"}
    page = tmp_path / "page.md"
    page.write_text("Run `make test` and make sure to read.\n\n```\nPORT=9 make run STAGE=prod  # make nothing\n```\n")
    assert [target for _, target in make_targets_named(page)] == ["test", "run"]


def test_the_readmes_deploy_commands_end_with_the_new_commit_live_and_checked() -> None:
    """Applying publishes a version that `live` does not serve yet: the steps go on until it does, and say so."""
    section = README.read_text().split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"^```\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    steps = ["make terraform", "terraform plan", "terraform apply plan.bin", "make deploy", "make smoke"]
    positions = [next(i for i, command in enumerate(commands) if step in command) for step in steps]
    assert positions == sorted(positions) and positions[-1] == len(commands) - 1, commands
    # The plan stamps the commit into the function (X-Api-Version), and the smoke check asserts that one answered.
    assert "source_commit=$(git rev-parse HEAD)" in commands[positions[1]]
    assert 'EXPECT_COMMIT="$(git rev-parse HEAD)"' in commands[positions[-1]]
