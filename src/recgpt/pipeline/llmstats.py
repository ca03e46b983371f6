"""LLM stage statistics for the report: calls, tokens, seconds, cache hits, failures, post-check pass rates.

Reads the runtime's ``RUN/llm/usage.jsonl`` (one object per call with at least ``task``, ``ok``, ``cached``,
``prompt_tokens``, ``completion_tokens``, ``latency_s``) and the stage tables and summaries.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow.parquet as pq

from recgpt.pipeline.artifacts import read_json, read_usage
from recgpt.pipeline.document import Heading, Paragraph, TableBlock
from recgpt.runfolder import RunFolder


def usage_by_task(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{task: {calls, cache_hits, failures, prompt_tokens, completion_tokens, seconds}}; ``seconds`` sums the
    latency of calls that were not cache hits (the compute actually spent)."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        t = out[str(r.get("task") or "?")]
        t["calls"] += 1
        t["cache_hits"] += bool(r.get("cached"))
        t["failures"] += not r.get("ok", True)
        t["prompt_tokens"] += r.get("prompt_tokens") or 0
        t["completion_tokens"] += r.get("completion_tokens") or 0
        if not r.get("cached"):
            t["seconds"] += r.get("latency_s") or 0.0
    return {task: dict(v) for task, v in sorted(out.items())}


def table_stats(run: RunFolder) -> list[list[str]]:
    """Rows (stage, users, records, per user, passing post-checks) from the stage tables."""
    rows = []
    if run.interests.exists():
        t = pq.read_table(run.interests).to_pylist()
        users = len({r["user_id"] for r in t})
        extended = sum(r.get("stage") == "extended" for r in t)
        rows.append(["interests", str(users), str(len(t)), f"{len(t) / max(users, 1):.1f}",
                     f"kept after checks; {extended} extended, {len(t) - extended} listed"])
    if run.tags.exists():
        t = pq.read_table(run.tags).to_pylist()
        users = len({r["user_id"] for r in t})
        passed = sum(bool(r.get("passed_checks")) for r in t)
        rows.append(["tags", str(users), str(len(t)), f"{len(t) / max(users, 1):.1f}",
                     f"{passed}/{len(t)} = {passed / max(len(t), 1):.0%} passed"])
    return rows


def _summary_text(summary: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()
                     if not isinstance(v, (dict, list)))


def llm_stat_blocks(run: RunFolder) -> list:
    usage = usage_by_task(read_usage(run.llm_usage))
    blocks: list = [Heading("LLM stages")]
    if usage:
        rows = []
        total = defaultdict(float)
        for task, v in usage.items():
            for key, value in v.items():
                total[key] += value
            rows.append([task] + [f"{int(v.get(c, 0))}" for c in ("calls", "cache_hits", "failures",
                                                                   "prompt_tokens", "completion_tokens")]
                        + [f"{v.get('seconds', 0):.1f}"])
        rows.append(["total"] + [f"{int(total.get(c, 0))}" for c in ("calls", "cache_hits", "failures",
                                                                     "prompt_tokens", "completion_tokens")]
                    + [f"{total.get('seconds', 0):.1f}"])
        blocks.append(TableBlock(["task", "calls", "cache hits", "failures", "prompt tokens", "completion tokens",
                                  "seconds"], rows, highlight_rows={len(rows) - 1},
                                 caption="Every LLM call of the run (from llm/usage.jsonl, reruns included); "
                                 "seconds count only calls that were not answered from the cache."))
    else:
        blocks.append(Paragraph("No LLM usage was recorded (llm/usage.jsonl is empty or missing)."))
    rows = table_stats(run)
    if rows:
        blocks.append(TableBlock(["stage", "users", "records", "per user", "post-checks"], rows,
                                 caption="Stage tables after the post-checks that need no LLM."))
    state = read_json(run.stages_state, {}).get("stages", {})
    summaries = [[name, _summary_text(state[name].get("summary", {}))] for name in ("interests", "tags", "phi",
                 "explanations") if name in state and state[name].get("summary")]
    if summaries:
        blocks.append(TableBlock(["stage", "what the stage reported"], summaries,
                                 caption="Counts reported by each stage (dropped answers, failures, pass rates)."))
    return blocks


