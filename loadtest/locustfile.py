"""Load profile for the LLM Scores API; point it at any base URL.

    make load URL=https://<api-id>.execute-api.<region>.amazonaws.com/api USERS=500 MINUTES=5
    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000

The mix is what a catalogue client does: the default listing (cache hits), filtered and sorted
pages, whole paginated walks following `next_token`, single models, and conditional GETs that
revalidate with `If-None-Match` (a 304 is a success). Any 5xx, transport error or unexpected
status is a failure.

Pace: LOAD_REQUESTS_PER_SECOND paces each user to that many requests a second, walks included,
which is how docs/capacity.md counts users (`make load` sets 1). Without it, each user thinks for
LOAD_WAIT_MIN to LOAD_WAIT_MAX seconds (default 1-3) between tasks: about 0.8 requests a second,
since a walk is several requests.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser

PROVIDERS = ["OpenAI", "anthropic", "Google", "meta", "Mistral AI", "DeepSeek", "nobody-by-this-name"]
SORTS = ["model_name", "score", "context_window", "release_date"]
FALLBACK_MODELS = ["gpt-4o", "claude-3.5-sonnet", "gemini-1.5-pro", "llama-3.1-405b"]

# Every status seen, by class, so a run's summary says how many 5xx there were, not only "failures".
STATUS_CLASSES: Counter[str] = Counter()


@events.request.add_listener
def _count_status(response: Any = None, exception: Any = None, **_: Any) -> None:
    status = getattr(response, "status_code", 0) or 0
    STATUS_CLASSES["transport_error" if exception is not None and not status else f"{status // 100}xx"] += 1


@events.quitting.add_listener
def _print_status_classes(environment: Any, **_: Any) -> None:
    print("status classes: " + ", ".join(f"{name}={count}" for name, count in sorted(STATUS_CLASSES.items())))
    if STATUS_CLASSES.get("5xx"):
        environment.process_exit_code = 1


def paced(requests_per_second: float) -> Callable[[Any], float]:
    """A wait that holds a user to `requests_per_second` on average, however many requests a task made."""

    def wait_time(user: Any) -> float:
        elapsed = time.monotonic() - float(user.started_at)
        return max(0.0, int(user.requests_made) / requests_per_second - elapsed)

    return wait_time


def _wait_time() -> Callable[[Any], float]:
    rate = os.environ.get("LOAD_REQUESTS_PER_SECOND", "")
    if rate:
        if float(rate) <= 0:
            raise ValueError(f"LOAD_REQUESTS_PER_SECOND must be positive, got {rate!r}")
        return paced(float(rate))
    return between(float(os.environ.get("LOAD_WAIT_MIN", "1")), float(os.environ.get("LOAD_WAIT_MAX", "3")))


class CatalogueReader(FastHttpUser):
    wait_time = _wait_time()

    def on_start(self) -> None:
        self.started_at = time.monotonic()
        self.requests_made = 0
        self.model_names = list(FALLBACK_MODELS)
        self.etags: dict[str, str] = {}
        self.requests_made += 1
        with self.client.get("/llms?limit=1000", name="/llms?limit=1000", catch_response=True) as response:
            if response.status_code == 200:
                names = [item["model_name"] for item in response.json()["items"]]
                self.model_names = names or self.model_names
                response.success()
            else:
                response.failure(f"status {response.status_code}")

    def _get(
        self, path: str, name: str, expected: tuple[int, ...] = (200,), headers: dict[str, str] | None = None
    ) -> Any:
        self.requests_made += 1
        with self.client.get(path, name=name, headers=headers, catch_response=True) as response:
            if response.status_code in expected:
                response.success()
            else:
                response.failure(f"status {response.status_code}: {(response.text or '')[:200]}")
            return response

    @task(6)
    def default_listing(self) -> None:
        response = self._get("/llms", "/llms")
        if response.status_code == 200 and response.headers.get("ETag"):
            self.etags["/llms"] = response.headers["ETag"]

    @task(4)
    def filtered_sorted_page(self) -> None:
        provider = random.choice(PROVIDERS)
        sort = random.choice(SORTS)
        order = random.choice(["asc", "desc"])
        self._get(f"/llms?provider={provider}&sort={sort}&order={order}&limit=5", "/llms?provider&sort&order&limit")

    @task(2)
    def paginated_walk(self) -> None:
        sort = random.choice(SORTS)
        path = f"/llms?sort={sort}&order=desc&limit=7"
        for _ in range(50):  # a bound, in case a server bug ever hands out a token loop
            response = self._get(path, "/llms?sort&limit&next_token (walk)")
            if response.status_code != 200:
                return
            token = response.json().get("next_token")
            if not token:
                return
            path = f"/llms?sort={sort}&order=desc&limit=7&next_token={token}"

    @task(4)
    def one_model(self) -> None:
        name = random.choice(self.model_names)
        response = self._get(f"/llms/{name}", "/llms/{model_name}")
        if response.status_code == 200 and response.headers.get("ETag"):
            self.etags[name] = response.headers["ETag"]

    @task(4)
    def conditional_get(self) -> None:
        if not self.etags:
            self.default_listing()
            return
        key, etag = random.choice(list(self.etags.items()))
        path = "/llms" if key == "/llms" else f"/llms/{key}"
        # 200 is right too: the snapshot may have been refreshed with new data since the tag was issued.
        self._get(path, "conditional GET (If-None-Match)", expected=(304, 200), headers={"If-None-Match": etag})

    @task(1)
    def unknown_model(self) -> None:
        self._get("/llms/no-such-model-exists", "/llms/{unknown} (404)", expected=(404,))

    @task(1)
    def health(self) -> None:
        self._get("/health", "/health")
