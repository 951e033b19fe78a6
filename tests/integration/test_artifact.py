"""The deploy artifact (scripts/operations/artifact.py): built once, reproducible, refused when altered.

The builds run the real `chalice package` (through scripts/operations/export_terraform.py) on copies of the app,
each with an empty Chalice dependency cache, so both builds install the dependencies themselves.
`verify` runs as the deploy jobs run it: a separate interpreter, isolated (-I) and without
site-packages (-S), which also proves it needs nothing beyond the standard library.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scripts.harness.local_stack import PROJECT_ROOT
from scripts.operations import artifact

pytestmark = pytest.mark.integration

COMMIT = "0123456789abcdef0123456789abcdef01234567"
# What the build job's `terraform init` writes (hashes shortened): the artifact carries it to every stage's jobs.
PROVIDER_LOCK = """# This file is maintained automatically by "terraform init".
# Manual edits may be lost in future updates.

provider "registry.terraform.io/hashicorp/aws" {
  version     = "6.23.0"
  constraints = ">= 5.40.0, < 7.0.0"
  hashes = [
    "h1:NOvMfgvmQhDV3R5zKKUYbnMSIr70u5j7YgWZz9NLWd8=",
    "zh:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
  ]
}
"""
# What `chalice package` reads from a project: the app, its library, its config and its requirements.
APP_SOURCES = ("app.py", "chalicelib", ".chalice", "requirements.txt", "requirements-dev.txt", "requirements")


def copy_app(destination: Path) -> Path:
    destination.mkdir(parents=True)
    for name in APP_SOURCES:
        source = PROJECT_ROOT / name
        if source.is_dir():
            ignored = shutil.ignore_patterns("__pycache__", "deployed", "deployments")
            shutil.copytree(source, destination / name, ignore=ignored)
        else:
            shutil.copy2(source, destination / name)
    return destination


def disturb(project: Path) -> None:
    """What differs between two checkouts of one commit: times, permission bits, order, and stray bytecode."""
    files = sorted(path for path in project.rglob("*") if path.is_file())
    for index, path in enumerate(reversed(files)):
        os.utime(path, (1_000_000_000 + index, 1_000_000_000 + index))
        path.chmod(0o664 if index % 2 else 0o600)
    # Recreate chalicelib's files in the opposite order, so the directory lists them differently.
    library = project / "chalicelib"
    contents = {path: path.read_bytes() for path in sorted(library.glob("*.py"))}
    for path in contents:
        path.unlink()
    for path, data in reversed(contents.items()):
        path.write_bytes(data)
    # Importing chalicelib (the exporter does) leaves bytecode that embeds the checkout's times.
    cache = library / "__pycache__"
    cache.mkdir()
    (cache / "contract.cpython-311.pyc").write_bytes(os.urandom(64))


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path]:
    """The same sources built twice: once as copied, once from a disturbed copy of that copy."""
    root = tmp_path_factory.mktemp("builds")
    first_sources = copy_app(root / "first-sources")
    second_sources = root / "second-sources"
    shutil.copytree(first_sources, second_sources)
    disturb(second_sources)
    lock = root / ".terraform.lock.hcl"
    lock.write_text(PROVIDER_LOCK)
    first, _ = artifact.build(root / "first", COMMIT, project=first_sources, provider_lock=lock)
    second, _ = artifact.build(root / "second", COMMIT, project=second_sources, provider_lock=lock)
    return first, second, root / "first"


def run_verify(directory: Path, manifest_sha256: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            str(PROJECT_ROOT / "scripts" / "operations" / "artifact.py"),
            "verify",
            str(directory),
        ]
        + ["--manifest-sha256", manifest_sha256, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=directory.parent,
    )


@pytest.fixture
def built(two_builds: tuple[dict, dict, Path], tmp_path: Path) -> tuple[Path, str]:
    """A private copy of the first build, free to tamper with, and its manifest's sha256."""
    copy = tmp_path / "artifact"
    shutil.copytree(two_builds[2], copy)
    return copy, artifact.sha256_of(copy / artifact.MANIFEST)


def test_a_fresh_build_of_the_same_commit_gives_the_same_zip_and_the_same_files(two_builds):
    first, second, _ = two_builds
    assert second["deployment_zip"] == first["deployment_zip"]
    assert second["files"] == first["files"]
    assert second == first


def test_the_manifest_names_the_commit_the_zip_its_dependencies_and_every_file(two_builds):
    manifest, _, out = two_builds
    assert manifest["commit"] == COMMIT and manifest["stages"] == ["dev", "prod"]
    zip_sha256 = manifest["deployment_zip"]["sha256"]
    assert manifest["files"]["terraform-dev/deployment.zip"] == zip_sha256
    assert manifest["files"]["terraform-prod/deployment.zip"] == zip_sha256, "dev tests the zip prod runs"
    assert artifact.sha256_of(out / "terraform-prod" / "deployment.zip") == zip_sha256
    assert manifest["dependency_files"] == {
        name: artifact.sha256_of(PROJECT_ROOT / name)
        for name in ("requirements.txt", "requirements-dev.txt", "requirements/venv-seed.txt")
    }
    lines = (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
    # The lock's pins (`name==version \`), not its hash and comment lines.
    pinned = [line.split()[0].replace("-", "_") for line in lines if line[:1].isalnum()]
    assert manifest["deployment_zip"]["distributions"] == sorted(pinned)
    assert {"chalice", "python", "zlib"} <= set(manifest["toolchain"])
    # One provider lock, beside the stages rather than in them: dev and prod install the same providers.
    assert manifest["terraform_providers"] == {"registry.terraform.io/hashicorp/aws": "6.23.0"}
    assert (out / "terraform.lock.hcl").read_text() == PROVIDER_LOCK
    assert not list(out.rglob(".terraform.lock.hcl")), "upload-artifact would drop a hidden file"
    on_disk = {path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file()}
    assert on_disk == set(manifest["files"]) | {"manifest.json"}
    assert {"terraform-dev/chalice.tf.json", "terraform-prod/chalice.tf.json"} <= on_disk


def test_the_zip_is_sorted_without_bytecode_with_fixed_times_and_modes(two_builds):
    _, _, out = two_builds
    with zipfile.ZipFile(out / "terraform-prod" / "deployment.zip") as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names) and "app.py" in names and "chalicelib/contract.py" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert {info.date_time for info in infos} == {artifact.ZIP_EPOCH}
    assert {stat.S_IMODE(info.external_attr >> 16) for info in infos} <= {0o644, 0o755}


def test_verify_accepts_the_untouched_artifact(built):
    directory, manifest_sha256 = built
    result = run_verify(directory, manifest_sha256, "--commit", COMMIT)
    assert result.returncode == 0, result.stderr
    assert "matches its manifest" in result.stdout


def test_verify_refuses_a_tampered_zip(built):
    directory, manifest_sha256 = built
    zip_path = directory / "terraform-prod" / "deployment.zip"
    data = bytearray(zip_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    zip_path.write_bytes(bytes(data))
    result = run_verify(directory, manifest_sha256, "--commit", COMMIT)
    assert result.returncode == 1
    assert "artifact refused" in result.stderr and "terraform-prod/deployment.zip has sha256" in result.stderr


def test_verify_refuses_a_manifest_rewritten_to_match_a_tampered_zip(built):
    """Whoever can change the artifact can change its manifest too: the announced sha256 is what catches it."""
    directory, manifest_sha256 = built
    zip_path = directory / "terraform-prod" / "deployment.zip"
    zip_path.write_bytes(zip_path.read_bytes() + b"\0")
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["files"]["terraform-prod/deployment.zip"] = artifact.sha256_of(zip_path)
    (directory / "manifest.json").write_text(json.dumps(manifest))
    result = run_verify(directory, manifest_sha256)
    assert result.returncode == 1 and "not the" in result.stderr and manifest_sha256 in result.stderr


def test_verify_refuses_added_missing_and_changed_files_and_another_commit(built):
    directory, manifest_sha256 = built
    (directory / "terraform-prod" / "extra.tf").write_text('resource "null_resource" "x" {}\n')
    (directory / "terraform-dev" / "deployment.zip").unlink()
    with (directory / "terraform-prod" / "chalice.tf.json").open("a") as template:
        template.write(" ")
    result = run_verify(directory, manifest_sha256, "--commit", "f" * 40)
    assert result.returncode == 1
    assert "terraform-prod/extra.tf is not in the manifest" in result.stderr
    assert "terraform-dev/deployment.zip is missing" in result.stderr
    assert "terraform-prod/chalice.tf.json has sha256" in result.stderr
    assert f"built from commit {COMMIT}, not {'f' * 40}" in result.stderr


def test_verify_refuses_a_provider_lock_other_than_the_builds(built):
    directory, manifest_sha256 = built
    lock = directory / "terraform.lock.hcl"
    lock.write_text(lock.read_text().replace('"6.23.0"', '"6.24.0"'))
    result = run_verify(directory, manifest_sha256, "--commit", COMMIT)
    assert result.returncode == 1 and "terraform.lock.hcl has sha256" in result.stderr


def test_build_refuses_a_provider_lock_that_pins_no_provider(tmp_path):
    not_a_lock = tmp_path / "versions.tf"
    not_a_lock.write_text('terraform {\n  required_version = ">= 1.10.0"\n}\n')
    with pytest.raises(artifact.ArtifactError, match="pins no provider"):
        artifact.build(tmp_path / "out", COMMIT, provider_lock=not_a_lock)
    assert not (tmp_path / "out").exists(), "refused before anything was written"


def test_a_sealed_plan_bundle_is_verified_and_bound_to_its_build(built, tmp_path):
    _, build_sha256 = built
    bundle = tmp_path / "plan"
    bundle.mkdir()
    (bundle / "plan.bin").write_bytes(b"plan made from the build")
    (bundle / "terraform.lock.hcl").write_text('provider "registry.terraform.io/hashicorp/aws" {}\n')
    sealed = subprocess.run(
        [sys.executable, "-I", "-S", str(PROJECT_ROOT / "scripts" / "operations" / "artifact.py"), "seal", str(bundle)]
        + ["--commit", COMMIT, "--bound-to", build_sha256],
        capture_output=True,
        text=True,
        check=True,
    )
    plan_sha256 = sealed.stdout.strip()
    assert plan_sha256 == artifact.sha256_of(bundle / "manifest.json")
    assert run_verify(bundle, plan_sha256, "--commit", COMMIT, "--bound-to", build_sha256).returncode == 0
    other_build = run_verify(bundle, plan_sha256, "--bound-to", "0" * 64)
    assert other_build.returncode == 1 and f"made from build manifest {build_sha256}" in other_build.stderr
    (bundle / "plan.bin").write_bytes(b"a plan nobody approved")
    swapped = run_verify(bundle, plan_sha256, "--commit", COMMIT, "--bound-to", build_sha256)
    assert swapped.returncode == 1 and "plan.bin has sha256" in swapped.stderr


def test_build_refuses_to_replace_a_directory_that_is_not_an_artifact(tmp_path):
    precious = tmp_path / "not-an-artifact"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(artifact.ArtifactError, match="is not an artifact"):
        artifact.build(precious, COMMIT)
    assert (precious / "notes.txt").read_text() == "keep me"
