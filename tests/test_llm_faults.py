"""Faults from a real local HTTP server: retries, recorded failures, nothing lost, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from llm_fault_server import FaultServer

from recgpt.llm.runtime import LLMConfig, LLMRequest, LLMRuntime

SRC = Path(__file__).resolve().parents[1] / "src"


def _config(url: str, max_in_flight: int = 4, **overrides) -> LLMConfig:
    """The openai backend against the fault server: short timeouts and backoff; ``overrides`` are runtime keys."""
    openai = {"base_url": url, "model": "fault-model", "timeout_s": 0.5, "max_in_flight": max_in_flight}
    values = dict(backend="openai", options={"openai": openai}, max_retries=2, backoff_s=0.01, backoff_max_s=0.05,
                  progress=False)
    return LLMConfig(**{**values, **overrides})


def test_transient_faults_are_retried_and_lasting_ones_recorded(tmp_path):
    plans = {
        "a": "500,ok", "b": "429,429,ok", "c": "hang,ok", "d": "badjson,ok", "e": "ok",
        "f": "500", "g": "badjson", "h": "hang", "i": "400",
    }
    requests = [LLMRequest(name, "raw", {"prompt": f"case {name} plan={plan}"}, max_tokens=8) for name, plan in plans.items()]
    usage = tmp_path / "usage.jsonl"
    with FaultServer(hang_s=2.0) as server:
        runtime = LLMRuntime(_config(server.url), cache_path=tmp_path / "c.sqlite", usage_path=usage)
        results = runtime.run_batch(requests)
        assert [r.key for r in results] == list(plans)
        ok = {r.key for r in results if r.ok}
        assert ok == {"a", "b", "c", "d", "e"}
        by_key = {r.key: r for r in results}
        assert by_key["b"].attempts == 3 and by_key["b"].text == "echo: case b plan=429,429,ok"
        assert "HTTP 500" in by_key["f"].error and "gave up after 3 tries" in by_key["f"].error
        assert "unreadable response body" in by_key["g"].error
        assert "timeout" in by_key["h"].error
        assert "HTTP 400" in by_key["i"].error and by_key["i"].attempts == 1  # not retried
        assert server.counts["case f plan=500"] == 3

        lines = [json.loads(line) for line in usage.read_text().splitlines()]
        assert sorted(line["key"] for line in lines) == sorted(plans)
        assert all(line["error"] for line in lines if not line["ok"])

        before = server.total()
        again = runtime.run_batch(requests)
        assert {r.key for r in again if r.cached} == ok  # nothing done before is lost
        assert server.total() - before == 3 + 3 + 3 + 1  # only the failed ones are asked again
        runtime.close()


def test_servers_refusing_max_tokens_get_max_completion_tokens():
    with FaultServer() as server:
        runtime = LLMRuntime(_config(server.url))
        result = runtime.run(LLMRequest("k", "raw", {"prompt": "hi plan=newapi"}, max_tokens=8))
        assert result.ok and result.attempts == 1 and server.counts["hi plan=newapi"] == 2
        assert runtime.backend._token_param == "max_completion_tokens"


def test_in_flight_requests_are_bounded(tmp_path):
    with FaultServer(slow_s=0.3) as server:
        runtime = LLMRuntime(_config(server.url, max_in_flight=3))
        results = runtime.run_batch([LLMRequest(str(i), "raw", {"prompt": f"{i} plan=slow"}) for i in range(12)])
        assert all(r.ok for r in results) and server.max_in_flight == 3


_BATCH_SCRIPT = """
import sys
from recgpt.llm.runtime import LLMConfig, LLMRequest, LLMRuntime
url, cache = sys.argv[1], sys.argv[2]
config = LLMConfig(backend="openai", progress=False,
                   options={"openai": {"base_url": url, "model": "fault-model", "max_in_flight": 2}})
runtime = LLMRuntime(config, cache_path=cache, usage_path=cache + ".usage.jsonl")
results = runtime.run_batch([LLMRequest(str(i), "raw", {"prompt": f"item {i} plan=slow"}) for i in range(40)])
print(sum(r.ok for r in results), sum(r.cached for r in results))
"""


def test_a_killed_batch_resumes_with_only_the_missing_calls(tmp_path):
    script = tmp_path / "batch.py"
    script.write_text(textwrap.dedent(_BATCH_SCRIPT))
    cache = tmp_path / "cache.sqlite"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with FaultServer(slow_s=0.1) as server:
        first = subprocess.Popen([sys.executable, str(script), server.url, str(cache)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while server.total() < 15 and time.time() < deadline and first.poll() is None:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert first.returncode == -signal.SIGKILL
        made_before = server.total()
        assert 15 <= made_before < 40
        with sqlite3.connect(cache) as db:
            saved = db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        assert made_before - 2 <= saved <= made_before  # at most the calls in flight were lost

        second = subprocess.run([sys.executable, str(script), server.url, str(cache)], env=env,
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert second.stdout.split() == ["40", str(saved)]
        assert server.total() - made_before == 40 - saved
