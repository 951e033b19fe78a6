"""`make run`: a local DynamoDB (moto server), the table seeded from data/llms.json, and `chalice local`.

    python scripts/run_local.py [--port 8000] [--dynamodb-port 8001] [--file data/llms.json]

Everything listens on 127.0.0.1 only and is stopped on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts import local_stack, seed_data


def _local_table_name() -> str:
    config = json.loads((local_stack.PROJECT_ROOT / ".chalice" / "config.json").read_text())
    return config["stages"]["local"]["environment_variables"]["TABLE_NAME"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the API locally against an embedded DynamoDB.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--dynamodb-port", type=int, default=int(os.environ.get("DYNAMODB_PORT", 8001)))
    parser.add_argument("--file", type=Path, default=seed_data.DEFAULT_FILE)
    arguments = parser.parse_args(argv)
    for port in (arguments.port, arguments.dynamodb_port):
        if local_stack.port_is_open(port):
            print(f"error: port {port} on 127.0.0.1 is already in use; pass --port/--dynamodb-port", file=sys.stderr)
            return 1
    # SIGTERM (e.g. from a process manager) cleans up exactly like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    moto = api = None
    try:
        moto = local_stack.start_moto(arguments.dynamodb_port)
        print(f"DynamoDB (moto server) on http://127.0.0.1:{arguments.dynamodb_port}", file=sys.stderr)
        os.environ.update(local_stack.local_environment(arguments.dynamodb_port))
        import boto3

        table = _local_table_name()
        client = boto3.client("dynamodb")
        seed_data.ensure_table(client, table, create=True)
        report = seed_data.seed(client, table, seed_data.load_items(arguments.file))
        print(f"table {table}: {report.as_text()}", file=sys.stderr)
        api = local_stack.start_chalice_local(arguments.port, arguments.dynamodb_port)
        print(
            f"API on http://127.0.0.1:{arguments.port}  (try /llms, /llms/gpt-4o, /health?deep=true); Ctrl-C stops",
            file=sys.stderr,
        )
        api.wait()
        return api.returncode or 0
    except KeyboardInterrupt:
        return 0
    except seed_data.SeedFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        local_stack.stop(api)
        local_stack.stop(moto)
        print("stopped", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
