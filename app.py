"""LLM Scores API: routes, the warm-up schedule and middleware wiring. Behaviour lives in chalicelib/."""

from chalice.app import Rate, Response

from chalicelib import lifecycle
from chalicelib.config import settings
from chalicelib.contract import HEALTH, ITEM, LIST, ROUTE_METHODS
from chalicelib.cors import add_cors_headers, answer_options
from chalicelib.observability import log_request
from chalicelib.responses import add_version_header, answer_head_like_get, reshape_framework_errors
from chalicelib.service import current_service
from chalicelib.warmup import WARMUP_INTERVAL_MINUTES, WarmableChalice, answer_ping, warm_api

# chalicelib/observability.py owns logging; Chalice must not reset the shared "llm-scores" logger to ERROR.
app = WarmableChalice(
    app_name="llm-scores",
    on_warmup=lambda hold_milliseconds: answer_ping(current_service(), hold_milliseconds),
    configure_logs=False,
)
# Outermost, so the framework's own errors carry the CORS headers too (chalicelib/cors.py).
app.register_middleware(add_cors_headers, "http")
app.register_middleware(add_version_header, "http")
app.register_middleware(log_request, "http")
app.register_middleware(reshape_framework_errors, "http")
app.register_middleware(answer_options, "http")
app.register_middleware(answer_head_like_get, "http")
lifecycle.install(current_service())

# A Content-Type sent with a GET, which some clients and proxies add, describes no body: it must not earn a 415.
ANY_CONTENT_TYPE = ["*/*"]


@app.route(LIST.path, methods=list(ROUTE_METHODS), content_types=ANY_CONTENT_TYPE)
def list_llms() -> Response:
    return current_service().list_llms(app.current_request)


@app.route(ITEM.path, methods=list(ROUTE_METHODS), content_types=ANY_CONTENT_TYPE)
def get_llm(model_name: str) -> Response:
    return current_service().get_llm(app.current_request, model_name)


@app.route(HEALTH.path, methods=list(ROUTE_METHODS), content_types=ANY_CONTENT_TYPE)
def health() -> Response:
    return current_service().health(app.current_request)


@app.schedule(Rate(WARMUP_INTERVAL_MINUTES, unit=Rate.MINUTES))
def warm_up(event: object) -> dict[str, object]:
    return warm_api(settings)


# CodeDeploy's lifecycle hooks for the `live` alias (scripts/operations/deploy.py names them in the AppSpec).
# Chalice deploys each as its own function, llm-scores-<stage>-<name>. Imported when a hook runs: the API
# function shares this module, and its cold start must not pay for the hooks' HTTP and thread-pool imports.
@app.lambda_function(name="before_allow_traffic")
def before_allow_traffic(event: dict[str, object], context: object) -> dict[str, str]:
    from chalicelib import deploy_hooks

    return deploy_hooks.before_allow_traffic(event, context)


@app.lambda_function(name="after_allow_traffic")
def after_allow_traffic(event: dict[str, object], context: object) -> dict[str, str]:
    from chalicelib import deploy_hooks

    return deploy_hooks.after_allow_traffic(event, context)
