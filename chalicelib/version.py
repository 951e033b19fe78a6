"""Which code answered: the Lambda version and the commit it was built from, sent on every response.

Both come from the function's environment, never from the code, so the deployment zip stays byte-identical
for the same code: Lambda sets `AWS_LAMBDA_FUNCTION_VERSION` per published version, and the Terraform export
sets `SOURCE_COMMIT` from `var.source_commit` at apply time. Locally they are `$LATEST` and `unknown`.
The smoke check (scripts/operations/smoke.py) and the CodeDeploy hooks (chalicelib/deploy_hooks.py) read
the header to tell the old version from the new.
"""

from __future__ import annotations

import functools
import os
import re

VERSION_HEADER = "X-Api-Version"
UNKNOWN_COMMIT = "unknown"
UNPUBLISHED_VERSION = "$LATEST"
# A commit id, a tag or `<sha>+dirty`; anything else is not ours to echo into a header.
_COMMIT = re.compile(r"[0-9A-Za-z._+-]{1,64}")
_VERSION = re.compile(r"[0-9]+|\$LATEST")
# `lambda=42; commit=1a2b3c...`: fixed order, so a client can compare whole values.
_HEADER = re.compile(r"lambda=(?P<lambda>[0-9]+|\$LATEST); commit=(?P<commit>[0-9A-Za-z._+-]{1,64})")


def format_version(lambda_version: str, commit: str) -> str:
    """The header's value for a Lambda version and a commit; either one unreadable becomes its local default."""
    version = lambda_version if _VERSION.fullmatch(lambda_version) else UNPUBLISHED_VERSION
    source = commit if _COMMIT.fullmatch(commit) else UNKNOWN_COMMIT
    return f"lambda={version}; commit={source}"


def parse_version(value: str | None) -> dict[str, str] | None:
    """{"lambda": ..., "commit": ...} from a header's value; None when it is absent or not in our format."""
    if value is None:
        return None
    match = _HEADER.fullmatch(value.strip())
    return {"lambda": match["lambda"], "commit": match["commit"]} if match else None


@functools.lru_cache(maxsize=1)
def running_version() -> str:
    """This container's header value; read once, because a container never changes version."""
    return format_version(
        os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", UNPUBLISHED_VERSION),
        os.environ.get("SOURCE_COMMIT", UNKNOWN_COMMIT),
    )
