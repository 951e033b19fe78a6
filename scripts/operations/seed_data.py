"""Seed the scores table from a JSON file, safely.

    python scripts/operations/seed_data.py --table llm_scores-dev [--file data/llms.json] [--create-table]
        [--dry-run] [--force]

The whole file is validated before anything is written, by the API's own rules
(`chalicelib.models`), DynamoDB's number range included; one bad row stops the
run with its row number and nothing written (exit 2). Writes are conditional on
`updated_at`, compared as instants: a row never replaces an item the table holds
a newer version of, so reruns are idempotent and an interrupted seed can simply
be run again. A row sets the fields the API serves and leaves any other
attribute alone, and records where it came from (commit, actor) in `written_by`,
which the API never serves. This is the hand tool: it does not bump the catalogue
version, so warm containers serve what it writes within their TTL. Reviewed changes
go through `make data-plan` / `make data-apply` (scripts/operations/data_plan.py),
which share these rules. `--force` replaces whole items unconditionally with batch
writes. Region, credentials and `AWS_ENDPOINT_URL_DYNAMODB` come from the
standard AWS SDK configuration.

`updated_at` is kept, served and compared to the whole second, truncated
(`...00.999Z` is `...00Z`). A row and a stored item whose timestamps fall in the
same second are the same version as far as the catalogue can tell, and the row
is written, as for equal timestamps: the comparison sees exactly what the table
will hold and the API serves, and a rerun rewrites identical data. A stored
value with a fraction (another writer's, or an older seed's) is then rewritten
in whole seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from chalicelib.catalogue_version import WRITTEN_BY_ATTRIBUTE, written_by_attribute
from chalicelib.models import FIELD_ORDER, InvalidItem, Item, item_to_dynamodb, timestamp_second, validate_item

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "data" / "llms.json"
BATCH_SIZE = 25  # BatchWriteItem's limit
MAX_REPORTED_ERRORS = 20
# Bounded, so a throttled or contended table ends the run with an error instead of spinning forever.
MAX_BATCH_ATTEMPTS = 8
MAX_CONDITIONAL_ATTEMPTS = 5


class SeedFileError(ValueError):
    """The seed file cannot be written as a whole; the message lists every problem found."""


class SeedError(RuntimeError):
    """The table did not take the writes within the bounded number of attempts."""


@dataclass
class SeedReport:
    written: int = 0
    kept_newer: int = 0

    def as_text(self) -> str:
        return f"wrote {self.written} item(s); kept {self.kept_newer} newer item(s) already in the table"


def load_items(path: Path) -> list[Item]:
    """Reads and validates every row; raises `SeedFileError` naming each bad row, before any write."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SeedFileError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise SeedFileError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(rows, list):
        raise SeedFileError(f"{path} must hold a JSON array of items")
    items: list[Item] = []
    problems: list[str] = []
    first_row_of: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        label = f"row {number}"
        if isinstance(row, dict) and isinstance(row.get("model_name"), str):
            label += f" (model_name {row['model_name']!r})"
        try:
            item = validate_item(row)
        except InvalidItem as error:
            problems.append(f"{label}: {error}")
            continue
        name = item["model_name"]
        if name in first_row_of:
            problems.append(f"{label}: duplicates row {first_row_of[name]}")
            continue
        first_row_of[name] = number
        items.append(item)
    if problems:
        shown = problems[:MAX_REPORTED_ERRORS]
        more = len(problems) - len(shown)
        suffix = f"\n  ... and {more} more" if more else ""
        raise SeedFileError(
            f"{path}: {len(problems)} invalid row(s), nothing written:\n  " + "\n  ".join(shown) + suffix
        )
    return items


def ensure_table(client: Any, table: str, create: bool) -> None:
    """Checks the table exists; with `create`, makes it (on-demand, keyed on model_name) and waits for it."""
    try:
        client.describe_table(TableName=table)
        return
    except client.exceptions.ResourceNotFoundException:
        if not create:
            raise SeedFileError(f"table {table} does not exist; pass --create-table to create it") from None
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "model_name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "model_name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def table_is_newer(stored_item: dict[str, Any] | None, item: Item) -> bool:
    """True when the table's item must be kept rather than replaced by `item`: the seeder's rule, and the plan's.

    The table wins when its `updated_at` is a later second than the row's, cannot be read as one,
    or exists while the row has none.
    """
    if stored_item is None:
        return False
    if "updated_at" not in item and "updated_at" in stored_item:
        return True
    return _newer_in_table(stored_item.get("updated_at"), item)


def _newer_in_table(stored: Any, item: Item) -> bool:
    """True when the table's `updated_at` is a later second than the row's, or cannot be read as one.

    Compared as instants, not text: other writers may store offsets or fractions,
    and a year before 1000 must not sort after 2025. Compared to the whole second,
    the precision the row is written with and the API serves: a fraction the table
    cannot keep must not decide which version wins. An unreadable stored value is
    kept, because replacing data we cannot date could lose a newer edit.
    """
    if stored is None:
        return False
    if "updated_at" not in item:
        return True
    try:
        return timestamp_second(stored.get("S")) > timestamp_second(item["updated_at"])
    except InvalidItem:
        return True


def update_arguments(item: Item, written_by: dict[str, str] | None = None) -> dict[str, Any]:
    """An UpdateItem that makes the served fields exactly the row's and leaves every other attribute alone.

    With `written_by`, the row also records where the write came from (commit, run, actor), in an
    attribute the API never reads (chalicelib/catalogue_version.py).
    """
    attributes = item_to_dynamodb(item)
    fields = [name for name in FIELD_ORDER if name != "model_name"]
    names = {f"#f{index}": name for index, name in enumerate(fields)}
    placeholder = {name: key for key, name in names.items()}
    present = [name for name in fields if name in attributes]
    absent = [name for name in fields if name not in attributes]
    values = {f":{placeholder[name][1:]}": attributes[name] for name in present}
    assignments = [f"{placeholder[name]} = :{placeholder[name][1:]}" for name in present]
    if written_by is not None:
        names["#written_by"] = WRITTEN_BY_ATTRIBUTE
        values[":written_by"] = written_by_attribute(written_by)
        assignments.append("#written_by = :written_by")
    expression = "SET " + ", ".join(assignments)
    if absent:
        expression += " REMOVE " + ", ".join(placeholder[name] for name in absent)
    return {
        "Key": {"model_name": attributes["model_name"]},
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _write_unless_newer(client: Any, table: str, item: Item, written_by: dict[str, str] | None = None) -> bool:
    """Writes the row unless the table holds a newer version; False when the table's version was kept.

    Read, compare, then write on condition that the item is still what was read:
    a concurrent writer makes the condition fail, and the comparison is redone.
    """
    key = {"model_name": {"S": item["model_name"]}}
    for _ in range(MAX_CONDITIONAL_ATTEMPTS):
        stored = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        if table_is_newer(stored, item):
            return False
        arguments = update_arguments(item, written_by)
        if stored is None:
            condition = "attribute_not_exists(model_name)"
        elif "updated_at" in stored:
            condition = "updated_at = :seen_updated_at"
            arguments["ExpressionAttributeValues"][":seen_updated_at"] = stored["updated_at"]
        else:
            condition = "attribute_exists(model_name) AND attribute_not_exists(updated_at)"
        try:
            client.update_item(TableName=table, ConditionExpression=condition, **arguments)
        except client.exceptions.ConditionalCheckFailedException:
            continue  # another writer got there between the read and the write: look again
        return True
    raise SeedError(
        f"{item['model_name']!r} changed under the seed {MAX_CONDITIONAL_ATTEMPTS} times in a row; "
        "another writer is busy with it, so nothing was overwritten: run the seed again later"
    )


def provenance(source: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Where a write comes from, for the `written_by` audit attribute: commit, run and actor, and when.

    In GitHub Actions these are the run's own variables; by hand, the checkout's commit and the
    operator's login, so a manual write is as traceable as the pipeline's.
    """
    import getpass
    import os
    import subprocess
    from datetime import UTC, datetime

    env = dict(os.environ) if environ is None else environ
    commit = env.get("GITHUB_SHA", "")
    if not commit:
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = "unknown"
    run = ""
    if env.get("GITHUB_RUN_ID"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        run = f"{server}/{env.get('GITHUB_REPOSITORY', '')}/actions/runs/{env['GITHUB_RUN_ID']}"
        run += f"/attempts/{env.get('GITHUB_RUN_ATTEMPT', '1')}"
    try:
        actor = env.get("GITHUB_ACTOR") or getpass.getuser()
    except OSError:
        actor = "unknown"
    return {
        "source": source,
        "commit": commit,
        "run": run or "manual",
        "actor": actor,
        "at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }


def write_batch(client: Any, table: str, chunk: Sequence[Item], sleep: Callable[[float], None] = time.sleep) -> None:
    """Replaces `chunk` (at most 25 items) whole; `SeedError` if DynamoDB still refuses some after the retries."""
    requests = [{"PutRequest": {"Item": item_to_dynamodb(item)}} for item in chunk]
    delay = 0.05
    for _ in range(MAX_BATCH_ATTEMPTS):
        unprocessed = client.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems", {})
        requests = unprocessed.get(table, [])
        if not requests:
            return
        sleep(delay)
        delay = min(delay * 2, 2.0)
    names = ", ".join(request["PutRequest"]["Item"]["model_name"]["S"] for request in requests[:5])
    raise SeedError(
        f"DynamoDB left {len(requests)} item(s) unprocessed after {MAX_BATCH_ATTEMPTS} attempts "
        f"(first: {names}); the table is throttling writes: run the seed again, or with fewer --workers"
    )


def seed(
    client: Any,
    table: str,
    items: Sequence[Item],
    *,
    force: bool = False,
    workers: int = 8,
    progress: Callable[[int, int], None] | None = None,
    written_by: dict[str, str] | None = None,
) -> SeedReport:
    """Writes `items`; without `force`, never over an item whose `updated_at` is newer than the row's.

    With `written_by`, each conditional write records it on the row (`force` replaces items whole, unrecorded).
    """
    report = SeedReport()
    done = 0
    chunks = [items[start : start + BATCH_SIZE] for start in range(0, len(items), BATCH_SIZE)]

    def write_chunk(chunk: Sequence[Item]) -> tuple[int, int]:
        if force:
            write_batch(client, table, chunk)
            return len(chunk), 0
        written = sum(_write_unless_newer(client, table, item, written_by) for item in chunk)
        return written, len(chunk) - written

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for written, kept in pool.map(write_chunk, chunks):
            report.written += written
            report.kept_newer += kept
            done += written + kept
            if progress is not None:
                progress(done, len(items))
    return report


def _progress_printer(total: int) -> Callable[[int, int], None]:
    step = max(BATCH_SIZE, total // 20)
    last = [0]

    def show(done: int, total: int) -> None:
        if done - last[0] >= step or done == total:
            last[0] = done
            print(f"  {done}/{total} items ({done * 100 // total}%)", file=sys.stderr, flush=True)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="JSON array of items (default: data/llms.json)")
    parser.add_argument("--table", required=True, help="DynamoDB table name, e.g. llm_scores-dev")
    parser.add_argument("--create-table", action="store_true", help="create the table (on-demand) if it is missing")
    parser.add_argument("--dry-run", action="store_true", help="validate the file and stop; nothing is written")
    parser.add_argument("--force", action="store_true", help="replace items even where the table's updated_at is newer")
    parser.add_argument("--workers", type=int, default=8, help="parallel writers (default: 8)")
    arguments = parser.parse_args(argv)
    try:
        items = load_items(arguments.file)
        if arguments.dry_run:
            print(f"{arguments.file}: {len(items)} valid item(s); dry run, nothing written to {arguments.table}")
            return 0
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client = boto3.client("dynamodb")
            ensure_table(client, arguments.table, arguments.create_table)
            print(f"seeding {len(items)} item(s) into {arguments.table}", file=sys.stderr)
            written_by = provenance(f"seed_data {arguments.file}")
            report = seed(
                client,
                arguments.table,
                items,
                force=arguments.force,
                workers=arguments.workers,
                progress=_progress_printer(len(items)),
                written_by=written_by,
            )

        except (BotoCoreError, ClientError) as error:
            print(f"error: DynamoDB refused the seed: {error}", file=sys.stderr)
            return 1
        except SeedError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    except SeedFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.as_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
