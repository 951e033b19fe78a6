"""`make run`: a local DynamoDB (moto server), the table seeded from data/llms.json, and `chalice local`.

    python scripts/harness/run_local.py [--port 8000] [--dynamodb-port 8001] [--file data/llms.json]

Everything listens on 127.0.0.1 only and is stopped on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.harness.local_stack import ChaliceLocal, Moto, local_table_name, port_is_open
from scripts.operations import seed_data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the API locally against an embedded DynamoDB.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--dynamodb-port", type=int, default=int(os.environ.get("DYNAMODB_PORT", 8001)))
    parser.add_argument("--file", type=Path, default=seed_data.DEFAULT_FILE)
    arguments = parser.parse_args(argv)
    for port in (arguments.port, arguments.dynamodb_port):
        if port_is_open(port):
            print(f"error: port {port} on 127.0.0.1 is already in use; pass --port/--dynamodb-port", file=sys.stderr)
            return 1
    # Ctrl-C stops everything even when this process was started with SIGINT ignored (a shell's background
    # job without job control passes that on, and Python then installs no handler of its own); SIGTERM
    # (e.g. from a process manager) cleans up exactly like Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    moto: Moto | None = None
    api: ChaliceLocal | None = None
    try:
        items = seed_data.load_items(arguments.file)
        moto = Moto.start(arguments.dynamodb_port)
        print(f"DynamoDB (moto server) on {moto.endpoint}", file=sys.stderr)
        table = local_table_name()
        seed_data.ensure_table(moto.client, table, create=True)
        report = seed_data.seed(moto.client, table, items)
        print(f"table {table}: {report.as_text()}", file=sys.stderr)
        api = ChaliceLocal.start(moto.endpoint, port=arguments.port, capture_output=False)
        print(
            f"API on {api.base_url}  (try /llms, /llms/gpt-4o, /health?deep=true); Ctrl-C stops",
            file=sys.stderr,
        )
        return api.process.wait() or 0
    except KeyboardInterrupt:
        return 0
    except seed_data.SeedFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if api is not None:
            api.stop()
        if moto is not None:
            moto.stop()
        print("stopped", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
