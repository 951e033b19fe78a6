"""The one loopback harness: moto's DynamoDB server and `chalice local`, started and stopped the same way.

`make run`, the integration, fault, contract, load and security suites and the
benchmark all start the stack through `Moto` and `ChaliceLocal`. Everything
listens on 127.0.0.1 only and uses dummy credentials, so nothing can reach AWS.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
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

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
LOCAL_STAGE = "local"
# Dummy credentials: moto accepts anything, and a stray real key must never be used locally.
LOCAL_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def local_table_name() -> str:
    """The local stage's table, as `.chalice/config.json` (its one definition) names it."""
    config = json.loads((PROJECT_ROOT / ".chalice" / "config.json").read_text())
    name: str = config["stages"][LOCAL_STAGE]["environment_variables"]["TABLE_NAME"]
    return name


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def port_is_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((LOOPBACK, port)) == 0


def wait_for_http(url: str, process: subprocess.Popen[bytes], timeout_seconds: float = 60) -> None:
    """Waits until `url` answers at all (any status); fails fast if the process dies first."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before {url} answered")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_seconds:.0f} s")


def stop(process: subprocess.Popen[bytes] | None, timeout_seconds: float = 10) -> None:
    """Stops a process started here: SIGTERM, then SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_or_stop(url: str, process: subprocess.Popen[bytes], timeout_seconds: float = 60) -> None:
    # Ctrl-C (or a timeout) while waiting must not orphan the process: the caller never got its handle.
    try:
        wait_for_http(url, process, timeout_seconds)
    except BaseException:
        stop(process)
        raise


def local_environment(dynamodb_endpoint: str | None = None) -> dict[str, str]:
    """This process's environment with dummy credentials and, if given, the local DynamoDB endpoint."""
    environment = {**os.environ, **LOCAL_AWS_ENVIRONMENT}
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL_DYNAMODB"):
        environment.pop(name, None)
    if dynamodb_endpoint is not None:
        environment["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint
    return environment


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
    """moto's DynamoDB-compatible server on a loopback port; state lives in its memory."""

    port: int
    process: subprocess.Popen[bytes] | None = None
    client: Any = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @classmethod
    def start(cls, port: int | None = None) -> Moto:
        server = cls(port or free_port())
        server.restart()
        return server

    def restart(self) -> None:
        """Starts the server (again, on the same port, empty): a revived DynamoDB for fault tests."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)],
            env=local_environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_or_stop(f"{self.endpoint}/moto-api/", self.process)
        import boto3

        self.client = boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name=LOCAL_AWS_ENVIRONMENT["AWS_REGION"],
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def create_table(self, table: str, items: Iterable[dict[str, Any]] | None = None) -> None:
        """Creates `table` and seeds it (by default with the bundled sample catalogue)."""
        from scripts.operations import seed_data

        seed_data.ensure_table(self.client, table, create=True)
        rows = list(items) if items is not None else seed_data.load_items(seed_data.DEFAULT_FILE)
        seed_data.seed(self.client, table, rows, force=True)

    def stop(self) -> None:
        stop(self.process)


def project_copy(overrides: Mapping[str, str], destination: Path | None = None) -> Path:
    """A copy of the app whose local stage has extra environment variables.

    `chalice local` writes the stage's variables over the process environment,
    so runs that need other settings (a 1 s TTL, say) use a copy, not the original.
    """
    target = Path(destination or tempfile.mkdtemp(prefix="llm-scores-"))
    shutil.copy2(PROJECT_ROOT / "app.py", target / "app.py")
    shutil.copytree(PROJECT_ROOT / "chalicelib", target / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        PROJECT_ROOT / ".chalice", target / ".chalice", ignore=shutil.ignore_patterns("deployed", "deployments")
    )
    config_path = target / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"][LOCAL_STAGE]["environment_variables"].update(overrides)
    config_path.write_text(json.dumps(config, indent=2))
    return target


@dataclass
class ChaliceLocal:
    """`chalice local` for the local stage against a DynamoDB endpoint.

    With `overrides` it runs a copy of the app whose stage carries them, and keeps
    stdout (the JSON log lines) in a file; without, it runs the project itself and
    its output goes to this process's terminal, as `make run` wants.
    """

    port: int
    process: subprocess.Popen[bytes]
    project_dir: Path
    stdout_path: Path | None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @classmethod
    def start(
        cls,
        dynamodb_endpoint: str,
        overrides: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        capture_output: bool = True,
    ) -> ChaliceLocal:
        settings = {"CACHE_TTL_JITTER_RATIO": "0", **(overrides or {})} if capture_output else dict(overrides or {})
        project_dir = project_copy(settings) if settings else PROJECT_ROOT
        stdout_path = project_dir / "chalice-stdout.log" if capture_output else None
        environment = local_environment(dynamodb_endpoint)
        environment["PYTHONUNBUFFERED"] = "1"
        port = port or free_port()
        chalice = Path(sys.executable).with_name("chalice")
        command = [str(chalice), "local", "--stage", LOCAL_STAGE, "--host", LOOPBACK, "--port", str(port)]
        with contextlib.ExitStack() as files:
            stdout = stderr = None
            if stdout_path is not None:
                stdout = files.enter_context(open(stdout_path, "wb"))
                stderr = files.enter_context(open(project_dir / "chalice-stderr.log", "wb"))
            process = subprocess.Popen(
                [*command, "--no-autoreload"],
                cwd=project_dir,
                env=environment,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        instance = cls(port, process, project_dir, stdout_path)
        try:
            # /health without `deep` never touches DynamoDB, so this works even with DynamoDB down.
            _wait_or_stop(f"{instance.base_url}/health", process)
        except BaseException:
            instance.stop()
            raise
        return instance

    def get(self, path: str, headers: Mapping[str, str] | None = None, timeout: float = 30) -> HttpAnswer:
        return http_get(self.base_url, path, headers, timeout)

    def log_lines(self) -> list[dict[str, Any]]:
        """The app's JSON log lines so far (chalicelib/observability.py writes them to stdout, one per line)."""
        if self.stdout_path is None:
            raise RuntimeError("this server's output goes to the terminal; start it with capture_output=True")
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
        stop(self.process)
        if self.project_dir != PROJECT_ROOT:
            shutil.rmtree(self.project_dir, ignore_errors=True)


@contextmanager
def seeded_api(overrides: Mapping[str, str] | None = None) -> Iterator[ChaliceLocal]:
    """moto with the sample catalogue in the local table and `chalice local` in front of it, stopped on exit."""
    moto = Moto.start()
    server = None
    try:
        moto.create_table(local_table_name())
        server = ChaliceLocal.start(moto.endpoint, overrides)
        yield server
    finally:
        if server is not None:
            server.stop()
        moto.stop()
