"""Malformed items in the table: skipped, counted in SkippedItems, and the rest served."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts import seed_data
from tests.stack import ChaliceLocal, Moto

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
        "model_name": {"S": "bad-date"},
        "provider": {"S": "Acme"},
        "context_window": {"N": "8"},
        "score": {"N": "1"},
        "release_date": {"S": "2024-02-30"},
    },
]


@pytest.fixture(scope="module")
def api_over_dirty_table() -> Iterator[ChaliceLocal]:
    moto = Moto.start()
    api = None
    try:
        moto.create_table(TABLE)
        for item in MALFORMED_ITEMS:
            moto.client.put_item(TableName=TABLE, Item=item)
        api = ChaliceLocal.start(moto.endpoint, {"TABLE_NAME": TABLE})
        yield api
    finally:
        if api is not None:
            api.stop()
        moto.stop()


def test_malformed_items_are_skipped_counted_and_the_rest_served(api_over_dirty_table):
    api = api_over_dirty_table
    first = api.get("/llms?limit=1000")
    assert first.status == 200 and first.header("X-Cache") == "MISS"
    served = {item["model_name"] for item in first.json()["items"]}
    expected = {item["model_name"] for item in seed_data.load_items(seed_data.DEFAULT_FILE)}
    assert served == expected
    assert b"<script>" not in first.body

    line = api.log_line_for(first)
    assert line["SkippedItems"] == [float(len(MALFORMED_ITEMS))]
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LLMScores"
    assert "SkippedItems" in {metric["Name"] for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}

    # A skipped item is absent, not an error; and the count is reported once per refresh, not per request.
    missing = api.get("/llms/no-score")
    assert missing.status == 404
    assert "SkippedItems" not in api.log_line_for(missing)
