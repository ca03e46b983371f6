"""The FastAPI app of ``recgpt serve``: recommendations with explanations over a finished run folder.

No LLM runs on the request path (report 2.3.3 and 2.4.2): interests, tags and explanations were produced
offline; a request fuses the user vector with the user's tag vectors, searches the item index, and looks each
item's explanation up. Routes (every one but ``/healthz`` needs the API key, see :mod:`recgpt.serve.gate`):

    GET  /v1/users/{user_id}/recommendations?k=&beta=&exclude_history=   a run user's list
    GET  /v1/users/{user_id}/profile                                     compressed history, interests, tags
    POST /v1/recommendations                                             a list from posted events
    POST /v1/recommendations/batch                                       lists of many run users
    GET  /v1/items/{item_id}                                             an item and its stored explanations
    GET  /v1/run, POST /v1/admin/reload                                  what is served; load a newer run
    GET  /healthz, GET /metrics, GET /openapi.json, GET /ui              health, Prometheus, schema, page
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import Counter
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response

from recgpt import __version__
from recgpt.errors import RecgptError
from recgpt.serve import schemas as s
from recgpt.serve import service
from recgpt.serve.config import ServeConfig
from recgpt.serve.gate import Gate
from recgpt.serve.metrics import Metrics
from recgpt.serve.reload import StateHolder

log = logging.getLogger("recgpt.serve")
ENV_RUN, ENV_CONFIG = "RECGPT_SERVE_RUN", "RECGPT_SERVE_CONFIG"
ERRORS = {400: {"model": s.Problem, "description": "a body that cannot be read (not UTF-8 JSON)"},
          401: {"model": s.Problem, "description": "missing or wrong API key"},
          413: {"model": s.Problem, "description": "request body too large"},
          422: {"model": s.Rejected, "description": "invalid request, a limit passed, or ids the run does not have"}}
NOT_FOUND = {404: {"model": s.Problem, "description": "not in the run"}}


def create_app(run: str | Path, config: ServeConfig | None = None, key: str | None = None,
               holder: StateHolder | None = None) -> FastAPI:
    """The app over run folder ``run``; ``key`` (else the configuration's or its environment variable's) is
    the API key. Loads the run now (a :class:`~recgpt.errors.RecgptError` names what is missing)."""
    config = config or ServeConfig()
    key = key or config.resolved_key()
    if not key:
        raise RecgptError(f"no API key: set serve.api_key or the {config.api_key_env} environment variable")
    metrics = Metrics()
    holder = holder or StateHolder(run, config, metrics=metrics)
    holder.metrics = metrics

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        watcher = asyncio.create_task(holder.watch()) if config.watch_interval_s > 0 else None
        yield
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    app = FastAPI(title="recgpt serving API", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  description=__doc__.split("\n\n")[1].replace("\n", " "))
    app.state.holder, app.state.metrics, app.state.config = holder, metrics, config
    EventsRequest, BatchRequest = s.limited_requests(config.max_k, config.max_events, config.max_batch_users)
    K = Query(None, ge=1, le=config.max_k, description=f"list length (default {config.default_k})")
    BETA = Query(None, ge=0, le=1, description="fusion weight h = beta h_user + (1 - beta) h_tag; default: tuned")

    def settle(k: int | None, beta: float | None) -> tuple[int, float]:
        if k is not None and k > config.max_k:
            raise service.Unprocessable(f"k={k} is above this service's limit of {config.max_k}")
        return (k or config.default_k), (holder.current.beta if beta is None else float(beta))

    def count(tally: Counter, answers: list[s.Recommendations]) -> None:
        for kind, n in tally.items():
            metrics.explanations.labels(kind).inc(n)
        for answer in answers:
            metrics.tag_sources.labels(answer.tag_source).inc()

    def raw(answer) -> Response:
        """The answer serialized once by pydantic (the route's response_model documents it; FastAPI would
        validate and serialize it again)."""
        return Response(answer.model_dump_json(), media_type="application/json")

    def cached(state, work):
        hits, misses = state.engine.stats["hit"], state.engine.stats["miss"]
        out = work()
        metrics.cache_counts(state.engine.stats["hit"] - hits, state.engine.stats["miss"] - misses)
        return out

    @app.get("/v1/users/{user_id}/recommendations", response_model=s.Recommendations,
             responses={**ERRORS, **NOT_FOUND}, tags=["recommendations"])
    async def user_recommendations(user_id: str, k: int | None = K, beta: float | None = BETA,
                                   exclude_history: bool = True) -> s.Recommendations:
        """Top-k items of a run user: score, category, the explanation looked up for the user's interests (or
        the item-only one), and the tag (with its interest) whose fused query retrieved each item."""
        state = holder.current
        if user_id not in state.users:
            raise service.unknown_user(state, user_id)
        k, beta = settle(k, beta)
        tally: Counter = Counter()
        answers = cached(state, lambda: service.recommend_users(state, [user_id], k, beta, exclude_history, tally))
        count(tally, answers)
        return raw(answers[0])

    async def event_recommendations(body) -> s.Recommendations:
        """Top-k items from posted events: the user tower embeds them on the fly; tags are the user's LLM tags
        when the run has the user (``tag_source: llm``), else the titles of the last items (``item_titles``)."""
        state = holder.current
        k, beta = settle(body.k, body.beta)
        tally: Counter = Counter()
        answer = service.recommend_events(state, body, k, beta, config.max_events, tally)
        count(tally, [answer])
        return raw(answer)

    event_recommendations.__annotations__["body"] = EventsRequest  # built here: it carries the limits
    app.post("/v1/recommendations", response_model=s.Recommendations, responses=ERRORS,
             tags=["recommendations"])(event_recommendations)

    async def batch_recommendations(body) -> s.BatchAnswer:
        """Lists for many run users in one request (one index search for all); unknown ids are listed apart."""
        state = holder.current
        if len(body.user_ids) > config.max_batch_users:
            raise service.Unprocessable(f"{len(body.user_ids)} users; this service takes at most "
                                        f"{config.max_batch_users} per batch")
        k, beta = settle(body.k, body.beta)
        known = [u for u in body.user_ids if u in state.users]
        unknown = list(dict.fromkeys(u for u in body.user_ids if u not in state.users))
        tally: Counter = Counter()
        answers = cached(state, lambda: service.recommend_users(state, known, k, beta, body.exclude_history, tally))
        count(tally, answers)
        return raw(s.BatchAnswer(results=answers, unknown_user_ids=unknown))

    batch_recommendations.__annotations__["body"] = BatchRequest
    app.post("/v1/recommendations/batch", response_model=s.BatchAnswer, responses=ERRORS,
             tags=["recommendations"])(batch_recommendations)

    @app.get("/v1/users/{user_id}/profile", response_model=s.Profile, responses={**ERRORS, **NOT_FOUND},
             tags=["users"])
    async def user_profile(user_id: str) -> s.Profile:
        """The user's chain before retrieval: compressed behavior, interests and tags (phi category, verdict)."""
        return service.profile(holder.current, user_id)

    @app.get("/v1/items/{item_id}", response_model=s.Item, responses={**ERRORS, **NOT_FOUND}, tags=["items"])
    async def get_item(item_id: str) -> s.Item:
        """A catalog item with the explanations stored for it (item-only first)."""
        return service.item(holder.current, item_id, config.max_explanations_per_item)

    @app.get("/v1/run", response_model=s.RunInfo, responses=ERRORS, tags=["service"])
    async def run_info() -> s.RunInfo:
        """The run being served."""
        return s.RunInfo(**holder.current.summary())

    @app.post("/v1/admin/reload", response_model=s.ReloadAnswer,
              responses={**ERRORS, 409: {"model": s.Problem, "description": "the run folder cannot be served"}},
              tags=["service"])
    async def reload(force: bool = False) -> s.ReloadAnswer:
        """Load the run folder again if it changed (or ``force``), beside the current one, then swap; requests
        in flight finish on the state they started with. With several workers, each follows the folder by
        itself (``watch_interval_s``); this call reloads the worker that answers it."""
        try:
            swapped, seconds = await asyncio.to_thread(holder.reload, force)
        except RecgptError as exc:
            return JSONResponse({"detail": f"still serving the previous run: {exc}"}, status_code=409)
        return s.ReloadAnswer(reloaded=swapped, run=s.RunInfo(**holder.current.summary()), seconds=round(seconds, 3))

    @app.get("/healthz", response_model=s.Health, tags=["service"], openapi_extra={"security": []})
    async def healthz() -> s.Health:
        """Liveness and what is loaded (no key needed)."""
        state = holder.current
        return s.Health(status="ok", run=str(state.run.root), users=len(state.users), items=len(state.items),
                        loaded_at=state.loaded_at)

    @app.get("/metrics", response_class=Response, responses=ERRORS, tags=["service"])
    async def prometheus() -> Response:
        """Prometheus text format: requests by route and status, latency histogram, cache hits, explanations."""
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.exception_handler(service.NotFound)
    async def not_found(request: Request, exc: service.NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(service.Unprocessable)
    async def unprocessable(request: Request, exc: service.Unprocessable) -> JSONResponse:
        return JSONResponse({"detail": str(exc), **exc.fields}, status_code=422)

    @app.exception_handler(RecgptError)
    async def bad_request(request: Request, exc: RecgptError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    from recgpt.serve.web.page import register_page

    register_page(app, holder, config)
    app.openapi = lambda: _openapi(app)
    app.add_middleware(Gate, key=key, max_body_bytes=config.max_body_bytes, metrics=metrics)
    return app


def _openapi(app: FastAPI) -> dict:
    """The OpenAPI document with the API key declared (header or bearer), /healthz open."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schema.setdefault("components", {})["securitySchemes"] = {
        "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "Bearer": {"type": "http", "scheme": "bearer"},
    }
    schema["security"] = [{"ApiKeyHeader": []}, {"Bearer": []}]
    app.openapi_schema = schema
    return schema


def openapi_document(config: ServeConfig | None = None) -> dict:
    """The OpenAPI document of the app with ``config``'s limits, without loading a run."""
    from types import SimpleNamespace

    app = create_app("", config or ServeConfig(), key="-", holder=SimpleNamespace(current=None, metrics=None))
    return app.openapi()


def create_app_from_env() -> FastAPI:
    """The app of a server worker process: run folder and configuration from ``RECGPT_SERVE_RUN`` and
    ``RECGPT_SERVE_CONFIG`` (JSON), set by ``recgpt serve`` (``uvicorn --factory``)."""
    run = os.environ.get(ENV_RUN)
    if not run:
        raise RecgptError(f"{ENV_RUN} is not set (start the service with `recgpt serve --run RUN`)")
    config = ServeConfig.from_dict(json.loads(os.environ.get(ENV_CONFIG) or "{}"), source=ENV_CONFIG)
    started = time.perf_counter()
    app = create_app(run, config)
    log.info("worker %d ready in %.1f s", os.getpid(), time.perf_counter() - started)
    return app
