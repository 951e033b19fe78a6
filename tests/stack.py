"""Loopback processes for the integration, fault, contract, load and security suites.

The integration suite's `LocalStack` always points `chalice local` straight at moto. These suites
need more: a DynamoDB endpoint that may be a fault proxy, one moto shared by several API processes,
and the API's stdout kept, because that is where its log lines and EMF metrics go.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from scripts import local_stack, seed_data

LOOPBACK = local_stack.LOOPBACK


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup (http.client keeps the server's spelling)."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)


def http_get(base_url: str, path: str, headers: Mapping[str, str] | None = None, timeout: float = 30) -> HttpAnswer:
    """One GET over a fresh connection; any status is an answer, not an exception."""
    request = urllib.request.Request(base_url + path, headers=dict(headers or {}))
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, answer_headers, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, body = error.code, dict(error.headers), error.read()
    return HttpAnswer(status, answer_headers, body, time.monotonic() - started)


@dataclass
class Moto:
    """moto's DynamoDB-compatible server on a free loopback port."""

    port: int
    process: subprocess.Popen
    client: Any = field(repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @classmethod
    def start(cls) -> Moto:
        port = local_stack.free_port()
        process = local_stack.start_moto(port)
        client = boto3.client(
            "dynamodb",
            endpoint_url=f"http://{LOOPBACK}:{port}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        return cls(port, process, client)

    def create_table(self, table: str, items: Iterable[dict[str, Any]] | None = None) -> None:
        """Creates `table` and seeds it (by default with the bundled sample catalogue)."""
        seed_data.ensure_table(self.client, table, create=True)
        rows = list(items) if items is not None else seed_data.load_items(seed_data.DEFAULT_FILE)
        seed_data.seed(self.client, table, rows, force=True)

    def stop(self) -> None:
        local_stack.stop(self.process)


@dataclass
class ChaliceLocal:
    """`chalice local` for a copy of the app whose local stage carries `overrides`; stdout kept in a file."""

    port: int
    process: subprocess.Popen
    project_dir: Path
    stdout_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @classmethod
    def start(cls, dynamodb_endpoint: str, overrides: Mapping[str, str] | None = None) -> ChaliceLocal:
        settings = {"CACHE_TTL_JITTER_RATIO": "0", **(overrides or {})}
        project_dir = local_stack.project_copy("local", settings, Path(tempfile.mkdtemp(prefix="llm-scores-st-")))
        stdout_path = project_dir / "chalice-stdout.log"
        environment = local_stack.local_environment()
        environment["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint
        environment["PYTHONUNBUFFERED"] = "1"
        port = local_stack.free_port()
        chalice = Path(sys.executable).with_name("chalice")
        with open(stdout_path, "wb") as stdout, open(project_dir / "chalice-stderr.log", "wb") as stderr:
            process = subprocess.Popen(
                [str(chalice), "local", "--stage", "local", "--host", LOOPBACK, "--port", str(port), "--no-autoreload"],
                cwd=project_dir,
                env=environment,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        instance = cls(port, process, project_dir, stdout_path)
        try:
            # /health without `deep` never touches DynamoDB, so this works even with DynamoDB down.
            local_stack.wait_for_http(f"{instance.base_url}/health", process)
        except Exception:
            instance.stop()
            raise
        return instance

    def get(self, path: str, headers: Mapping[str, str] | None = None, timeout: float = 30) -> HttpAnswer:
        return http_get(self.base_url, path, headers, timeout)

    def log_lines(self) -> list[dict[str, Any]]:
        """The app's JSON log lines so far (Powertools writes them to stdout, one per line)."""
        lines = []
        for raw in self.stdout_path.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                try:
                    lines.append(json.loads(raw))
                except ValueError:
                    continue
        return lines

    def log_line_for(self, answer: HttpAnswer, wait_seconds: float = 5) -> dict[str, Any]:
        """The request log line written for `answer`, matched on X-Request-Id."""
        request_id = answer.header("X-Request-Id")
        deadline = time.monotonic() + wait_seconds
        while True:
            for line in self.log_lines():
                if line.get("request_id") == request_id and line.get("message") == "request":
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line for request {request_id}")
            time.sleep(0.05)

    def stop(self) -> None:
        local_stack.stop(self.process)
        shutil.rmtree(self.project_dir, ignore_errors=True)


@contextmanager
def seeded_api(overrides: Mapping[str, str] | None = None) -> Iterator[ChaliceLocal]:
    """moto with the sample catalogue and `chalice local` in front of it, both stopped on exit."""
    moto = Moto.start()
    server = None
    try:
        moto.create_table("llm_scores-local")
        server = ChaliceLocal.start(moto.endpoint, overrides)
        yield server
    finally:
        if server is not None:
            server.stop()
        moto.stop()
