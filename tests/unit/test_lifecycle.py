"""SnapStart restore hook: registered only where `snapshot_restore_py` exists, and it makes the cache refresh."""

from __future__ import annotations

import ast
import importlib
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chalicelib import lifecycle, service
from chalicelib.cache import HIT, MISS, SnapshotCache
from chalicelib.repository import ScanResult


@pytest.fixture
def fake_snapshot_restore(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[], None]]]:
    """Installs a stand-in for the Lambda runtime's module and reloads lifecycle against it."""
    registered: list[Callable[[], None]] = []
    module = types.ModuleType("snapshot_restore_py")
    module.register_after_restore = registered.append  # type: ignore[attr-defined]
    module.register_before_snapshot = lambda hook: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    importlib.reload(lifecycle)
    yield registered
    monkeypatch.delitem(sys.modules, "snapshot_restore_py")
    importlib.reload(lifecycle)


def counting_cache(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    loads: list[int] = []

    def load() -> ScanResult:
        loads.append(1)
        return ScanResult(items=[], skipped_items=0, pages=1, duration_milliseconds=1.0)

    cache = SnapshotCache(load, ttl_seconds=300, jitter_ratio=0, max_stale_seconds=3600, retry_after_seconds=5)
    monkeypatch.setattr(service, "cache", cache)
    return loads


def test_no_hook_is_registered_outside_the_lambda_runtime() -> None:
    assert "snapshot_restore_py" not in sys.modules
    assert lifecycle.HOOK_REGISTERED is False


def test_after_restore_hook_is_registered_when_the_runtime_provides_it(
    fake_snapshot_restore: list[Callable[[], None]],
) -> None:
    assert lifecycle.HOOK_REGISTERED is True
    assert [hook.__name__ for hook in fake_snapshot_restore] == ["refresh_after_restore"]


def test_restored_container_refreshes_the_snapshot_taken_at_init(
    fake_snapshot_restore: list[Callable[[], None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = counting_cache(monkeypatch)
    assert service.cache.read().state == MISS  # init loads the snapshot that gets frozen
    assert service.cache.read().state == HIT
    (hook,) = fake_snapshot_restore
    hook()
    assert len(loads) == 2  # reloaded inside the hook, before any request
    assert service.cache.read().state == HIT


def test_restored_container_gets_its_own_container_id(
    fake_snapshot_restore: list[Callable[[], None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    counting_cache(monkeypatch)
    monkeypatch.setattr(service, "CONTAINER_ID", "id-from-the-snapshot")
    (hook,) = fake_snapshot_restore
    hook()
    assert service.CONTAINER_ID != "id-from-the-snapshot"
    assert len(service.CONTAINER_ID) == 32


def test_app_wires_the_lifecycle_module() -> None:
    # Checked in app.py's source: this test module imports lifecycle itself, so sys.modules proves nothing.
    tree = ast.parse((Path(__file__).resolve().parents[2] / "app.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "chalicelib.lifecycle" in imported


@pytest.mark.parametrize(
    ("initialization_type", "loads_expected"),
    [("provisioned-concurrency", 1), ("snap-start", 1), ("on-demand", 0), (None, 0)],
)
def test_catalogue_is_preloaded_only_when_init_runs_ahead_of_traffic(
    monkeypatch: pytest.MonkeyPatch, initialization_type: str | None, loads_expected: int
) -> None:
    loads = counting_cache(monkeypatch)
    assert lifecycle.preload_during_init(initialization_type) is bool(loads_expected)
    assert len(loads) == loads_expected


def test_preload_survives_a_dead_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.repository import DynamoDBUnavailable

    def refuse() -> ScanResult:
        raise DynamoDBUnavailable("scan failed: EndpointConnectionError")

    cache = SnapshotCache(refuse, ttl_seconds=300, jitter_ratio=0, max_stale_seconds=3600, retry_after_seconds=5)
    monkeypatch.setattr(service, "cache", cache)
    assert lifecycle.preload_during_init("provisioned-concurrency") is True
