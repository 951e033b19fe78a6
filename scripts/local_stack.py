"""Real local processes on loopback: moto's DynamoDB server and `chalice local`.

Shared by `make run` and the integration tests, so both start the stack the
same way and stop it the same way.
"""

from __future__ import annotations

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
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
# Dummy credentials: moto accepts anything, and a stray real key must never be used locally.
LOCAL_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def port_is_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((LOOPBACK, port)) == 0


def wait_for_http(url: str, process: subprocess.Popen, timeout_seconds: float = 60) -> None:
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


def _wait_or_stop(url: str, process: subprocess.Popen) -> None:
    # Ctrl-C (or a timeout) while waiting must not orphan the process: the caller never got its handle.
    try:
        wait_for_http(url, process)
    except BaseException:
        stop(process)
        raise


def local_environment(dynamodb_port: int | None = None) -> dict[str, str]:
    """This process's environment with dummy credentials and, if given, the local DynamoDB endpoint."""
    environment = {**os.environ, **LOCAL_AWS_ENVIRONMENT}
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        environment.pop(name, None)
    if dynamodb_port is not None:
        environment["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://{LOOPBACK}:{dynamodb_port}"
    return environment


def start_moto(port: int) -> subprocess.Popen:
    """Starts moto's server (DynamoDB-compatible, state in memory) and waits for it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
        env=local_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_or_stop(f"http://{LOOPBACK}:{port}/moto-api/", process)
    return process


def project_copy(stage: str, overrides: Mapping[str, str], destination: Path | None = None) -> Path:
    """A copy of the app whose `stage` has extra environment variables.

    `chalice local` writes the stage's variables over the process environment,
    so tests that need other settings (a 1 s TTL, say) run a copy, not the original.
    """
    target = Path(destination or tempfile.mkdtemp(prefix="llm-scores-"))
    shutil.copy2(PROJECT_ROOT / "app.py", target / "app.py")
    shutil.copytree(PROJECT_ROOT / "chalicelib", target / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        PROJECT_ROOT / ".chalice", target / ".chalice", ignore=shutil.ignore_patterns("deployed", "deployments")
    )
    config_path = target / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"][stage]["environment_variables"].update(overrides)
    config_path.write_text(json.dumps(config, indent=2))
    return target


def start_chalice_local(
    port: int, dynamodb_port: int, *, project_dir: Path = PROJECT_ROOT, stage: str = "local", quiet: bool = False
) -> subprocess.Popen:
    """Runs `chalice local` for `stage` against the local DynamoDB and waits until it serves."""
    chalice = Path(sys.executable).with_name("chalice")
    process = subprocess.Popen(
        [str(chalice), "local", "--stage", stage, "--host", LOOPBACK, "--port", str(port), "--no-autoreload"],
        cwd=project_dir,
        env=local_environment(dynamodb_port),
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.DEVNULL if quiet else None,
        start_new_session=True,
    )
    _wait_or_stop(f"http://{LOOPBACK}:{port}/health", process)
    return process


def stop(process: subprocess.Popen | None, timeout_seconds: float = 10) -> None:
    """Stops a process started here: SIGTERM, then SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
