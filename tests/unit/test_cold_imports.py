"""What the API function's cold start imports: only what serving a request needs."""

import json
import subprocess
import sys

# The CodeDeploy hooks share app.py but run as functions of their own; Powertools is a bench-only tool now.
NOT_ON_THE_API_COLD_PATH = {"chalicelib.deploy_hooks", "aws_lambda_powertools"}


def test_importing_the_app_loads_neither_the_deploy_hooks_nor_powertools() -> None:
    probe = "import app, sys, json; print(json.dumps(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(output.strip().splitlines()[-1]))
    assert not loaded & NOT_ON_THE_API_COLD_PATH
