"""Shared test set-up: no test may reach real AWS, so credentials are dummies and the region is fixed."""

import os

from scripts.local_stack import LOCAL_AWS_ENVIRONMENT

os.environ.update(LOCAL_AWS_ENVIRONMENT)
os.environ.setdefault("TABLE_NAME", "llm_scores-test")
os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
os.environ.pop("AWS_PROFILE", None)
