"""LLM Scores API: routes, the warm-up schedule and middleware wiring. Behaviour lives in chalicelib/."""

from chalice import Rate

import chalicelib.lifecycle  # noqa: F401  registers the SnapStart after-restore hook (cache refresh)
from chalicelib import service
from chalicelib.config import settings
from chalicelib.observability import log_request
from chalicelib.warmup import WarmableChalice, warm_api

# Powertools owns logging; Chalice must not reset the shared "llm-scores" logger to ERROR.
app = WarmableChalice(app_name="llm-scores", on_warmup=service.warm_container, configure_logs=False)
app.register_middleware(log_request, "http")


@app.route("/llms", methods=["GET"])
def list_llms():
    return service.list_llms(app.current_request)


@app.route("/llms/{model_name}", methods=["GET"])
def get_llm(model_name):
    return service.get_llm(app.current_request, model_name)


@app.route("/health", methods=["GET"])
def health():
    return service.health(app.current_request)


@app.schedule(Rate(5, unit=Rate.MINUTES))
def warm_up(event):
    return warm_api(settings)
