"""One benchmark container: a fresh process that imports a handler and drives it as Lambda would.

    python -m bench.worker TARGET [--project-dir DIR] [--log-file FILE] [--options JSON]

    app              the app of DIR (default: this tree): cold start, first request, warm requests
    baseline         the PoC re-created in bench/baseline_poc.py, the same way
    floor            the least a Chalice app can do (bench/floor.py), the same way
    app-stages       the app's import, split where its cost lies; baseline-stages likewise
    memory           the snapshot's footprint, no DynamoDB
    miss-share       a pinged and an unpinged container of DIR's app over a simulated hour

The handler is imported before anything else the worker needs, with DIR first on
`sys.path`, so the import time measured is what a Lambda init would pay for it,
and this tree's worker can measure another commit's app (`make bench AGAINST=`).
That time is split in two: init, the time spent inside botocore's `Session.create_client`
(building DynamoDB clients: loading the service model and endpoint rules) while the
handler was imported, and import, everything else. An import hook patches botocore's
session as it loads, so the split works for every tree and for boto3, and the handler's
imports still run in their own order.
With `--log-file`, stdout and stderr (what Lambda sends to CloudWatch) go to that
file, whose growth is the log bytes; the result is one JSON object on the original
stdout, which the parent (`bench.run`) reads.
"""

import os
import sys
import time

# Not `typing.TYPE_CHECKING`: importing typing here would charge it to the harness, not to the app's import.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from bench.container import Handler

CURRENT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = {
    # botocore, not boto3: the app never imports boto3.
    "app-stages": (
        ("import botocore.session", "botocore.session"),
        ("import chalice", "chalice.app"),
        ("import app + chalicelib (creates the DynamoDB client)", "app"),
    ),
    "baseline-stages": (
        ("import boto3", "boto3"),
        ("import bench.baseline_poc (creates boto3.resource Table)", "bench.baseline_poc"),
    ),
}


def _parse(argv: list[str]) -> dict[str, str]:
    """`TARGET [--flag value]...`, parsed by hand: argparse imports modules the app needs too (re, gettext),
    which would make the measured import look cheaper than a Lambda init."""
    parsed = {"target": argv[0] if argv else "", "--project-dir": CURRENT_ROOT, "--log-file": "", "--options": "{}"}
    flags = argv[1:]
    if len(flags) % 2:
        raise SystemExit(f"{flags[-1]} needs a value")
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        if flag not in parsed or flag == "target":
            raise SystemExit(f"unknown option {flag}")
        parsed[flag] = value
    return parsed


def _redirect_logs(path: str) -> int:
    """Sends stdout and stderr to `path`; returns a descriptor for the original stdout, where the result goes."""
    if not path:
        return 1
    result_descriptor = os.dup(1)
    # Read-write, so the meter can read back what each invocation logged (bench.container.LogMeter).
    log_descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log_descriptor, 1)
    os.dup2(log_descriptor, 2)
    os.close(log_descriptor)
    return result_descriptor


def _import_handler(target: str) -> "Handler | None":
    if target in ("app", "miss-share"):
        import app

        return app.app
    if target == "baseline":
        from bench import baseline_poc

        return baseline_poc.handler
    if target == "floor":
        from bench import floor

        return floor.app
    return None


CLIENT_CREATION_SECONDS = [0.0]


class _TimeClientCreation:
    """Charges the time spent in `Session.create_client` to init, whichever tree or SDK layer calls it.

    An import hook, not an import: it patches `botocore.session` as whoever imports it first finishes
    loading it, so the handler's own imports run in their own order.
    """

    def find_spec(self, name: str, path: object = None, target: object = None) -> object:
        if name != "botocore.session":
            return None
        import importlib.util

        sys.meta_path.remove(self)  # type: ignore[arg-type]
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            load = spec.loader.exec_module

            def exec_module(module: object) -> None:
                load(module)  # type: ignore[arg-type]
                _patch_create_client(module)

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _patch_create_client(module: object) -> None:
    create_client = module.Session.create_client  # type: ignore[attr-defined]

    def timed(*args, **kwargs):  # type: ignore[no-untyped-def,unused-ignore]
        started = time.perf_counter()
        try:
            return create_client(*args, **kwargs)
        finally:
            CLIENT_CREATION_SECONDS[0] += time.perf_counter() - started

    module.Session.create_client = timed  # type: ignore[attr-defined]


def _time_client_creation() -> None:
    sys.meta_path.insert(0, _TimeClientCreation())  # type: ignore[arg-type]


def _import_stages(stages: tuple[tuple[str, str], ...]) -> dict[str, float]:
    milliseconds: dict[str, float] = {}
    for label, module in stages:
        started = time.perf_counter()
        __import__(module)
        milliseconds[label] = (time.perf_counter() - started) * 1000
    return milliseconds


ARGUMENTS = _parse(sys.argv[1:])
TARGET = ARGUMENTS["target"]
RESULT_DESCRIPTOR = _redirect_logs(ARGUMENTS["--log-file"])
sys.path.insert(0, os.path.abspath(ARGUMENTS["--project-dir"]))
_import_started = time.perf_counter()
if TARGET not in STAGES:
    _time_client_creation()
STAGE_MILLISECONDS = _import_stages(STAGES[TARGET]) if TARGET in STAGES else {}
HANDLER = _import_handler(TARGET)
_loaded = time.perf_counter()
INIT_MILLISECONDS = CLIENT_CREATION_SECONDS[0] * 1000
IMPORT_MILLISECONDS = (_loaded - _import_started) * 1000 - INIT_MILLISECONDS
# Everything below is the harness, and comes from this tree whichever tree the app came from. The app's
# own packages are already imported, so putting this tree first again cannot change which app runs.
sys.path.insert(0, CURRENT_ROOT)


def _loaded_handler() -> "Handler":
    if HANDLER is None:
        raise SystemExit(f"target {TARGET!r} imports no handler")
    return HANDLER


def _run_app(options: dict[str, object]) -> dict[str, object]:
    from bench import app_tree
    from bench.container import Container, DynamoDBCounter, LogMeter, run_container

    counter = DynamoDBCounter()
    app_tree.count_dynamodb_calls(counter)
    result = run_container(Container(_loaded_handler(), counter, LogMeter(), cached=True), options)
    if options.get("measure_refresh"):
        result["refresh"] = app_tree.measure_refresh()
    return result


def _run_baseline(options: dict[str, object]) -> dict[str, object]:
    from bench.container import Container, DynamoDBCounter, LogMeter, count_baseline_calls, run_container

    counter = DynamoDBCounter()
    count_baseline_calls(counter)
    return run_container(Container(_loaded_handler(), counter, LogMeter(), cached=False), options)


def _run_floor(options: dict[str, object]) -> dict[str, object]:
    from bench import floor
    from bench.app_tree import DYNAMODB_CALLS
    from bench.container import Container, DynamoDBCounter, LogMeter, run_container

    counter = DynamoDBCounter()
    floor.client.meta.events.register(DYNAMODB_CALLS, counter)
    return run_container(Container(_loaded_handler(), counter, LogMeter(), cached=False), options)


def _run_memory(options: dict[str, object]) -> dict[str, object]:
    from bench.memory import measure_memory

    return measure_memory(options)


def _run_miss_share(options: dict[str, object]) -> dict[str, object]:
    from bench.container import run_miss_share

    return run_miss_share(_loaded_handler(), options)


RUNNERS = {
    "app": _run_app,
    "baseline": _run_baseline,
    "floor": _run_floor,
    "memory": _run_memory,
    "miss-share": _run_miss_share,
}


def main() -> int:
    import json

    options = json.loads(ARGUMENTS["--options"])
    result: dict[str, object] = {
        "target": TARGET,
        "project_dir": ARGUMENTS["--project-dir"],
        "import_ms": IMPORT_MILLISECONDS,
        "init_ms": INIT_MILLISECONDS,
    }
    if TARGET in STAGES:
        result["stages_ms"] = STAGE_MILLISECONDS
    elif TARGET not in RUNNERS:
        print(__doc__, file=sys.stderr)
        return 2
    elif not options.get("import_only"):
        result.update(RUNNERS[TARGET](options))
    os.write(RESULT_DESCRIPTOR, (json.dumps(result) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
