"""Typed configuration of ``recgpt serve`` (YAML block ``serve``). Imports nothing heavy.

Example (``configs/serve.yaml`` or the ``serve:`` block of a pipeline file)::

    serve:
      port: 8000
      workers: 2
      api_key_env: RECGPT_API_KEY
      max_k: 100
"""

from __future__ import annotations

import os

from pydantic import Field, model_validator

from recgpt.config import StrictConfig

DEFAULT_KEY_ENV = "RECGPT_API_KEY"


class ServeConfig(StrictConfig):
    """What the HTTP service reads: where it listens, who may call it, and how large a request may be."""

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8000, ge=0, le=65535, description="port to listen on (0: any free port)")
    workers: int = Field(1, ge=1, le=64, description="server processes (each loads the run into memory)")
    api_key: str | None = Field(
        None, description="the key every request but /healthz must send (X-API-Key or Authorization: Bearer); "
        "None: read it from api_key_env, else a random key is made and logged once")
    api_key_env: str = Field(DEFAULT_KEY_ENV, description="environment variable holding the key")
    default_k: int = Field(20, ge=1, description="list length when a request gives no k")
    max_k: int = Field(200, ge=1, description="largest k a request may ask for")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="larger request bodies are refused (413)")
    max_events: int = Field(1000, ge=1, description="most events in one POST /v1/recommendations body")
    max_batch_users: int = Field(256, ge=1, description="most users in one batch request")
    beta: float | None = Field(
        None, ge=0, le=1, description="fusion weight when a request gives none; None: the run's beta tuned on dev")
    match_similarity: float | None = Field(
        None, ge=0, le=1, description="explanation lookup: min MiniLM cosine between a user interest and a stored "
        "one; None: the run's explanations.match_similarity")
    user_cache_size: int = Field(
        100_000, ge=0, description="users whose vectors, tags and exclusions are kept in memory (LRU)")
    warm_users: int = Field(
        100_000, ge=0, description="at start-up, precompute the first this many users of the run in batches")
    access_log: bool = Field(False, description="log every request (uvicorn's access log; costs throughput)")
    torch_threads: int = Field(1, ge=1, description="torch CPU threads per server process")
    watch_interval_s: float = Field(
        5.0, ge=0, description="seconds between checks whether the run folder changed (then it is loaded beside "
        "and swapped in); 0: only POST /v1/admin/reload reloads")
    require_llm_stages: bool = Field(
        True, description="refuse a run folder without the LLM stages' tables (compressed behavior, interests, tags, "
        "explanations); false: serve such a run with item-title tags and no explanations")
    max_explanations_per_item: int = Field(50, ge=0, description="stored explanations listed by GET /v1/items/{id}")
    seral_quota: int | None = Field(
        None, ge=0, description="slots at the end of a run user's list reserved for the SERAL serendipity channel, "
        "filled from the judgments `recgpt seral channel` cached in RUN/seral/judgments.sqlite (read when the run "
        "is loaded, never an LLM call per request; a user whose profile changed since is served without them); "
        "None: the quota of that job's channel settings, off when the run has no judgments of its scorer; 0: off")

    @model_validator(mode="after")
    def _k_fits(self) -> "ServeConfig":
        if self.default_k > self.max_k:
            raise ValueError(f"default_k={self.default_k} is larger than max_k={self.max_k}")
        return self

    def resolved_key(self) -> str | None:
        """The configured key, else the environment's (None when neither is set)."""
        return self.api_key or os.environ.get(self.api_key_env) or None
