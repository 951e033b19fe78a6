"""The deploy artifact: built once without AWS credentials, then promoted unchanged from dev to prod.

    python scripts/operations/artifact.py build [--out DIR] [--commit SHA] [--provider-lock F]   # `make artifact`
    python scripts/operations/artifact.py verify DIR --manifest-sha256 HEX [--commit SHA] [--bound-to HEX]
    python scripts/operations/artifact.py seal DIR --commit SHA [--bound-to HEX]   # prints the new manifest's sha256

`build` exports every deployed stage with scripts/operations/export_terraform.py into DIR/terraform-<stage>/
(the Terraform and the Lambda zip `chalice package` made), copies the Terraform provider lock to
DIR/terraform.lock.hcl (every stage's jobs install exactly it), and writes DIR/manifest.json: the
commit, the zip's sha256, the sha256 of the dependency locks, the providers locked, the toolchain,
and the sha256 of every file. The zip is rewritten so that the same sources give the same bytes on any checkout
(normalize_zip), and dev and prod must carry the same zip, or the build fails.

`verify` refuses a directory that does not match its manifest, a manifest that is not the one the
build job announced (its sha256 travels as a job output, not inside the artifact), or one built
from another commit. `seal` writes a manifest for any directory: the prod plan bundle.

`verify` and `seal` use the standard library only, so a deploy job runs them with any python3;
`build` needs the project venv (`make install`), because it runs `chalice package`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import shutil
import stat
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = "manifest.json"
FORMAT = 1
DEPLOYED_STAGES = ("dev", "prod")
DEPLOYMENT_ZIP = "deployment.zip"
# The locks that decide the zip's third-party contents and the build's tools; recorded so that a rebuild that
# differs can say why.
DEPENDENCY_FILES = ("requirements.txt", "requirements-dev.txt", "requirements/venv-seed.txt")
# zipfile's earliest representable time, the one `chalice package` writes too.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
DIST_INFO = re.compile(r"^([^/]+)-([^/-]+)\.dist-info/")
# Not `.terraform.lock.hcl`: upload-artifact leaves out hidden files. The jobs copy it in under its real name.
PROVIDER_LOCK = "terraform.lock.hcl"
LOCKED_PROVIDER = re.compile(r'^provider "([^"]+)" \{\s*\n\s*version\s*=\s*"([^"]+)"', re.M)


class ArtifactError(RuntimeError):
    """The artifact cannot be built, or does not match what the build job produced."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_bytecode(name: str) -> bool:
    return "__pycache__/" in name or name.endswith((".pyc", ".pyo"))


def normalize_zip(path: Path) -> None:
    """Rewrites a zip so that its bytes depend only on the files' names, contents and executable bit.

    `chalice package` already fixes every entry's date, but keeps the order in which the file
    system lists a directory, the checkout's permission bits (its umask), and whatever sits in
    chalicelib/__pycache__: importing chalicelib (the exporter does) writes .pyc files there, and
    each one embeds its source's mtime, which is the checkout's time. Bytecode is left out (the
    Lambda runtime compiles what it imports, and a python3.13 runtime ignores 3.11 .pyc files anyway).
    Deflate output depends on the zlib build, so the manifest records zlib's version.
    """
    with zipfile.ZipFile(path) as source:
        entries = sorted(
            (info for info in source.infolist() if not info.is_dir() and not _is_bytecode(info.filename)),
            key=lambda info: info.filename,
        )
        contents = [(info.filename, bool((info.external_attr >> 16) & 0o111), source.read(info)) for info in entries]
    rewritten = path.with_name(path.name + ".normalizing")
    with zipfile.ZipFile(rewritten, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name, executable, data in contents:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, so the mode bits below are honoured on extraction
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, data)
    rewritten.replace(path)


def bundled_distributions(path: Path) -> list[str]:
    """`name==version` of every package the zip vendors, from its *.dist-info directories."""
    with zipfile.ZipFile(path) as archive:
        found = {match.groups() for name in archive.namelist() if (match := DIST_INFO.match(name))}
    return sorted(f"{name}=={version}" for name, version in found)


def _files(directory: Path) -> dict[str, str]:
    return {
        path.relative_to(directory).as_posix(): sha256_of(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.relative_to(directory).as_posix() != MANIFEST
    }


def _write_manifest(directory: Path, manifest: Mapping[str, Any]) -> str:
    path = directory / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return sha256_of(path)


def _git(*arguments: str, project: Path) -> str | None:
    result = subprocess.run(["git", *arguments], cwd=project, capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def current_commit(project: Path = ROOT) -> str:
    """HEAD, with `+dirty` when tracked files differ from it: such a build cannot be reproduced from the commit."""
    head = _git("rev-parse", "HEAD", project=project)
    if head is None:
        raise ArtifactError(f"{project} is not a git checkout: pass --commit")
    dirty = _git("status", "--porcelain", "--untracked-files=no", project=project)
    return f"{head}+dirty" if dirty else head


def toolchain() -> dict[str, str]:
    """What else decides the zip's bytes: the Python that ran chalice, chalice, and the zlib that deflated."""
    from importlib.metadata import version

    return {"python": platform.python_version(), "chalice": version("chalice"), "zlib": zlib.ZLIB_RUNTIME_VERSION}


def _prepare_output(out: Path) -> None:
    """A fresh directory; an existing one is replaced only if it is an earlier artifact (or empty)."""
    if out.exists():
        if any(out.iterdir()) and not (out / MANIFEST).exists():
            raise ArtifactError(f"{out} exists and is not an artifact (no {MANIFEST}): refusing to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True)


def locked_providers(lock: Path) -> dict[str, str]:
    """Each provider a Terraform lock file pins, and its version."""
    providers = dict(LOCKED_PROVIDER.findall(lock.read_text()))
    if not providers:
        raise ArtifactError(f"{lock} pins no provider: is it a .terraform.lock.hcl?")
    return providers


def build(
    out: Path,
    commit: str,
    stages: Iterable[str] = DEPLOYED_STAGES,
    project: Path = ROOT,
    provider_lock: Path | None = None,
) -> tuple[dict[str, Any], str]:
    """Exports each stage into out/terraform-<stage>/, writes out/manifest.json; returns it and its sha256.

    `project` is the app whose code is packaged (tests pass a copy); the Terraform comes from this checkout.
    `provider_lock` (the build job's `terraform init`, which needs the registry) travels in the artifact.
    """
    providers = locked_providers(provider_lock) if provider_lock is not None else None
    from scripts.operations import export_terraform

    _prepare_output(out)
    zip_digests: dict[str, str] = {}
    for stage in stages:
        stage_dir = out / f"terraform-{stage}"
        try:
            export_terraform.export(stage, stage_dir, project=project)
        except export_terraform.ExportError as error:
            raise ArtifactError(f"export of stage {stage!r} failed: {error}") from error
        for archive in sorted(stage_dir.glob("*.zip")):
            normalize_zip(archive)
        zip_digests[stage] = sha256_of(stage_dir / DEPLOYMENT_ZIP)
    if len(set(zip_digests.values())) != 1:
        # The stages' settings belong in their Terraform, not in the code: one zip is what dev tests and prod runs.
        raise ArtifactError(f"the stages' deployment zips differ: {zip_digests}")
    first_zip = out / f"terraform-{next(iter(zip_digests))}" / DEPLOYMENT_ZIP
    if provider_lock is not None:
        shutil.copyfile(provider_lock, out / PROVIDER_LOCK)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "kind": "build",
        "commit": commit,
        "stages": list(zip_digests),
        "deployment_zip": {
            "sha256": sha256_of(first_zip),
            "bytes": first_zip.stat().st_size,
            "distributions": bundled_distributions(first_zip),
        },
        "dependency_files": {name: sha256_of(project / name) for name in DEPENDENCY_FILES if (project / name).exists()},
        # null: built without one (`make artifact` offline); the deploy jobs then fail before any credentials.
        "terraform_providers": providers,
        "toolchain": toolchain(),
        "files": _files(out),
    }
    return manifest, _write_manifest(out, manifest)


def seal(directory: Path, commit: str, bound_to: str | None = None) -> str:
    """Writes directory/manifest.json listing every file (a plan bundle, say); returns the manifest's sha256."""
    manifest: dict[str, Any] = {"format": FORMAT, "kind": "sealed", "commit": commit, "files": _files(directory)}
    if bound_to is not None:
        # The build manifest this directory was made from: the plan of exactly that artifact.
        manifest["build_manifest_sha256"] = bound_to
    return _write_manifest(directory, manifest)


def _header_problems(manifest: Mapping[str, Any], commit: str | None, bound_to: str | None) -> list[str]:
    problems = []
    if manifest.get("format") != FORMAT:
        problems.append(f"{MANIFEST} is format {manifest.get('format')!r}; this script reads format {FORMAT}")
    if commit is not None and manifest.get("commit") != commit:
        problems.append(f"built from commit {manifest.get('commit')}, not {commit}")
    if bound_to is not None and manifest.get("build_manifest_sha256") != bound_to:
        problems.append(f"made from build manifest {manifest.get('build_manifest_sha256')}, not {bound_to}")
    return problems


def _file_problems(expected: Mapping[str, str], present: Mapping[str, str]) -> list[str]:
    problems = [f"{name} is missing" for name in sorted(expected.keys() - present.keys())]
    problems += [f"{name} is not in the manifest" for name in sorted(present.keys() - expected.keys())]
    problems += [
        f"{name} has sha256 {present[name]}, the manifest says {expected[name]}"
        for name in sorted(expected.keys() & present.keys())
        if expected[name] != present[name]
    ]
    return problems


def verify(directory: Path, manifest_sha256: str, commit: str | None = None, bound_to: str | None = None) -> list[str]:
    """Every way `directory` differs from what was announced; empty when it is exactly that artifact."""
    path = directory / MANIFEST
    if not path.is_file():
        return [f"{path} is missing"]
    actual = sha256_of(path)
    if actual != manifest_sha256:
        return [f"{MANIFEST} has sha256 {actual}, not the {manifest_sha256} its producer announced"]
    manifest = json.loads(path.read_text())
    expected: dict[str, str] = manifest.get("files", {})
    problems = _header_problems(manifest, commit, bound_to) + _file_problems(expected, _files(directory))
    if manifest.get("kind") == "build":
        zip_sha256 = manifest.get("deployment_zip", {}).get("sha256")
        problems += [
            f"{name} is listed with sha256 {digest}, but the build's zip is {zip_sha256}"
            for name, digest in sorted(expected.items())
            if name.endswith("/" + DEPLOYMENT_ZIP) and digest != zip_sha256
        ]
    return problems


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_command = commands.add_parser("build", help="export every stage and write the manifest (needs the venv)")
    build_command.add_argument("--out", type=Path, default=ROOT / "build" / "artifact")
    build_command.add_argument("--commit", help="the commit being built (default: git HEAD, +dirty if modified)")
    build_command.add_argument("--provider-lock", type=Path, help="the .terraform.lock.hcl every stage installs")
    verify_command = commands.add_parser("verify", help="refuse a directory that is not the announced artifact")
    verify_command.add_argument("directory", type=Path)
    verify_command.add_argument("--manifest-sha256", required=True, help="the sha256 its producer announced")
    verify_command.add_argument("--commit", help="the commit it must have been built from")
    verify_command.add_argument("--bound-to", help="the build manifest's sha256 a sealed bundle must name")
    seal_command = commands.add_parser("seal", help="write a manifest for a directory; print its sha256")
    seal_command.add_argument("directory", type=Path)
    seal_command.add_argument("--commit", required=True)
    seal_command.add_argument("--bound-to", help="the sha256 of the build manifest this bundle was made from")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = _parse(argv)
    if arguments.command == "seal":
        print(seal(arguments.directory, arguments.commit, arguments.bound_to))
        return 0
    if arguments.command == "verify":
        problems = verify(arguments.directory, arguments.manifest_sha256, arguments.commit, arguments.bound_to)
        for problem in problems:
            print(f"artifact refused: {arguments.directory}: {problem}", file=sys.stderr)
        if problems:
            return 1
        print(f"{arguments.directory} matches its manifest ({arguments.manifest_sha256}).")
        return 0
    try:
        manifest, digest = build(
            arguments.out, arguments.commit or current_commit(), provider_lock=arguments.provider_lock
        )
    except ArtifactError as error:
        print(f"build failed: {error}", file=sys.stderr)
        return 1
    zip_entry = manifest["deployment_zip"]
    print(f"Artifact for {manifest['commit']} in {arguments.out}: stages {', '.join(manifest['stages'])}.")
    print(f"  {DEPLOYMENT_ZIP} sha256 {zip_entry['sha256']} ({zip_entry['bytes']} bytes)")
    for source, version in (manifest["terraform_providers"] or {}).items():
        print(f"  {PROVIDER_LOCK}: {source} {version}")
    print(f"  {MANIFEST} sha256 {digest}")
    return 0


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path.insert(0, str(ROOT))
    # A script run imports the exporter, which imports chalicelib: keep its bytecode out of the tree being packaged.
    sys.dont_write_bytecode = True
    sys.exit(main())
