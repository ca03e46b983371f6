"""Prometheus metrics of one app (``GET /metrics``, text format 0.0.4), each app with its own registry.

With several server processes (``workers > 1``) ``recgpt serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before the
workers start; then every process writes its values there and ``/metrics`` answers the sum over processes.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest,
)

disable_created_metrics()  # no *_created series: they double the text and nothing here reads them

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Request counts and latency per route, plan-cache hits, explanation kinds, tag sources, reloads."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("recgpt_serve_requests", "HTTP requests answered", ["route", "method", "status"],
                                registry=r)
        self.latency = Histogram("recgpt_serve_request_seconds", "time to answer a request", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.cache = Counter("recgpt_serve_user_cache", "per-user plan cache lookups (vectors, tags, history)",
                             ["result"], registry=r)
        self.explanations = Counter("recgpt_serve_explanations", "recommended items by explanation found",
                                    ["kind"], registry=r)
        self.tag_sources = Counter("recgpt_serve_tag_source", "lists by where their tags came from", ["source"],
                                   registry=r)
        self.reloads = Counter("recgpt_serve_reloads", "run reloads", ["result"], registry=r)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def cache_counts(self, hits: int, misses: int) -> None:
        if hits:
            self.cache.labels("hit").inc(hits)
        if misses:
            self.cache.labels("miss").inc(misses)

    def render(self) -> bytes:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory and os.path.isdir(directory):
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged, path=directory)
            return generate_latest(merged)
        return generate_latest(self.registry)
