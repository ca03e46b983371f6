"""Held-out pass rates of several models on one stage task, side by side (report Tables 2, 4 and 7 in form).

The loop's ``evaluate-<task>`` step and ``recgpt align pass-rates`` compare models the same way: each model
answers the same held-out users' prompts greedily (the users ``self_training`` holds out: seeded, never
trained on), and the share of its items that pass the post-checks and each judge criterion is measured. A
model is a LoRA adapter folder, or None for the base model.
"""

from __future__ import annotations

from typing import Any

Rates = dict[str, float]  # criterion ("post_checks", "judge:<name>") or "overall" -> share of items passing,
#                           and the yields: "items_per_answer", "kept_per_answer"
YIELDS = ("items_per_answer", "kept_per_answer")


def compare(evaluator, models: dict[str, str | None]) -> dict[str, Any]:
    """``{"users": held-out users, "rates": {model name: Rates}}``; ``evaluator`` is a
    :class:`~recgpt.alignment.selftrain.HeldoutEvaluator` (one call per model, answers cached in the run)."""
    return {"users": len(evaluator.heldout), "rates": {name: evaluator(adapter) for name, adapter in models.items()}}


def rates_table(rows: dict[str, Rates]) -> list[str]:
    """Markdown lines: one row per model, a column per criterion (sorted), ``overall``, then the items written
    and kept per answer; a figure a model lacks shows ``nan``."""
    criteria = sorted({c for rates in rows.values() for c in rates if c != "overall" and c not in YIELDS})
    criteria += ["overall", *YIELDS]
    lines = ["| model | " + " | ".join(criteria) + " |", "|---" + "|---:" * len(criteria) + "|"]
    for model, rates in rows.items():
        lines.append(f"| {model} | " + " | ".join(f"{rates.get(c, float('nan')):.3f}" for c in criteria) + " |")
    return lines
