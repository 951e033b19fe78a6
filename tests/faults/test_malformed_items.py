"""Malformed items in the table: skipped, counted in SkippedItems, and the rest served.

Both ways a container meets the table: on-demand (the first request reads it) and
with provisioned concurrency (init reads it before any request, and must survive).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.harness.local_stack import ChaliceLocal, Moto
from scripts.operations import seed_data

pytestmark = pytest.mark.integration

TABLE = "llm_scores-malformed"

# What other writers (a console edit, a buggy job) could leave in the table, one rule broken each.
MALFORMED_ITEMS = [
    {
        "model_name": {"S": "score-is-text"},
        "provider": {"S": "Acme"},
        "context_window": {"N": "8"},
        "score": {"S": "hi"},
    },
    {"model_name": {"S": "no-score"}, "provider": {"S": "Acme"}, "context_window": {"N": "8"}},
    {
        "model_name": {"S": "negative-window"},
        "provider": {"S": "Acme"},
        "context_window": {"N": "-1"},
        "score": {"N": "1"},
    },
    {
        "model_name": {"S": "set-valued"},
        "provider": {"SS": ["a", "b"]},
        "context_window": {"N": "8"},
        "score": {"N": "1"},
    },
    {
        "model_name": {"S": "<script>x</script>"},
        "provider": {"S": "Acme"},
        "context_window": {"N": "8"},
        "score": {"N": "1"},
    },
    {
        "model_name": {"S": "year-one"},
        "provider": {"S": "Acme"},
        "context_window": {"N": "8"},
        "score": {"N": "1"},
        "updated_at": {"S": "0001-01-01T00:00:00+01:00"},
    },
    {
        "model_name": {"S": "year-9999"},
        "provider": {"S": "Acme"},
        "context_window": {"N": "8"},
        "score": {"N": "1"},
        "updated_at": {"S": "9999-12-31T23:00:00-05:00"},
    },
    {
        "model_name": {"S": "bad-date"},
        "provider": {"S": "Acme"},
        "context_window": {"N": "8"},
        "score": {"N": "1"},
        "release_date": {"S": "2024-02-30"},
    },
]


# Valid rows written by someone else: an unserved string set, and a provider with a trailing space.
VALID_FOREIGN_ITEMS = [
    {
        "model_name": {"S": "tagged"},
        "provider": {"S": "Acme"},
        "context_window": {"N": "8"},
        "score": {"N": "1"},
        "tags": {"SS": ["a", "b"]},
    },
    {"model_name": {"S": "padded"}, "provider": {"S": "OpenAI "}, "context_window": {"N": "8"}, "score": {"N": "2"}},
]


@pytest.fixture(scope="module", params=["on-demand", "provisioned-concurrency"])
def api_over_dirty_table(request) -> Iterator[tuple[ChaliceLocal, bool]]:
    """The API over a table of good and bad rows; the flag says whether init preloaded the catalogue."""
    moto = Moto.start()
    api = None
    try:
        moto.create_table(TABLE)
        for item in MALFORMED_ITEMS + VALID_FOREIGN_ITEMS:
            moto.client.put_item(TableName=TABLE, Item=item)
        api = ChaliceLocal.start(moto.endpoint, {"TABLE_NAME": TABLE, "AWS_LAMBDA_INITIALIZATION_TYPE": request.param})
        yield api, request.param == "provisioned-concurrency"
    finally:
        if api is not None:
            api.stop()
        moto.stop()


def test_malformed_items_are_skipped_counted_and_the_rest_served(api_over_dirty_table):
    api, preloaded = api_over_dirty_table
    first = api.get("/llms?limit=1000")
    assert first.status == 200
    assert first.header("X-Cache") == ("HIT" if preloaded else "MISS")
    served = {item["model_name"] for item in first.json()["items"]}
    expected = {item["model_name"] for item in seed_data.load_items(seed_data.DEFAULT_FILE)} | {"tagged", "padded"}
    assert served == expected
    assert b"<script>" not in first.body
    openai = {item["model_name"] for item in api.get("/llms?provider=openai&limit=1000").json()["items"]}
    assert "padded" in openai

    # The refresh that read the table carries SkippedItems: init's preload line, or the first request's.
    lines = api.log_lines()
    refresh_line = next(line for line in lines if line["message"] == "catalogue preload") if preloaded else None
    refresh_line = refresh_line or api.log_line_for(first)
    assert refresh_line["SkippedItems"] == len(MALFORMED_ITEMS)
    assert refresh_line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LLMScores"
    assert "SkippedItems" in {metric["Name"] for metric in refresh_line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    (skipped,) = [line for line in lines if line["message"] == "skipped malformed items"]
    assert {entry["key"] for entry in skipped["skipped"]} == {item["model_name"]["S"] for item in MALFORMED_ITEMS}

    # A skipped item is absent, not an error; and the count is reported once per refresh, not per request.
    missing = api.get("/llms/no-score")
    assert missing.status == 404
    assert "SkippedItems" not in api.log_line_for(missing)
