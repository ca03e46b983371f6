"""Recommendations with explanations for one user, from a finished run folder (the online path).

The trained retriever (``RUN/retriever``) ranks the catalog for the user with everything the data set knows
as history (fold None: train + dev + test), fused with the user's LLM tags when the run mined them (else
item-title tags) at the beta tuned on dev; each item's explanation comes from the lookup table
``RUN/stages/explanations.sqlite`` with the user's interests (report 2.4.2: produced offline, looked up online).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from rich.table import Table

from recgpt.errors import UnknownNameError
from recgpt.pipeline.artifacts import read_json
from recgpt.runfolder import RunFolder


@dataclass
class ExplainedItem:
    rank: int
    item_id: str
    title: str
    category: str
    score: float
    explanation: str  # "" when the table has none for this item
    interest: str  # the matched interest, "" for an item-only explanation


def recommend_explained(run_dir: str | Path, user_id: str, k: int = 10) -> tuple[list[ExplainedItem], dict]:
    """Top-``k`` items for ``user_id`` with explanations; also returns context (interests, tags, beta)."""
    from recgpt.retrieval.fusion import load_tag_table
    from recgpt.retrieval.saved import load_model
    from recgpt.stages.runner import load_run_dataset

    run = RunFolder(Path(run_dir))
    dataset = load_run_dataset(run)
    known = set(dataset.users.column("user_id").to_pylist()) | set(dataset.events.column("user_id").to_pylist())
    if user_id not in known:
        raise UnknownNameError(f"user {user_id!r} is not in the run's data ({len(known)} users)")
    model = load_model(run.retriever)
    model.use_history(dataset, None)
    beta = read_json(run.tuning, {}).get("beta_tuned", 1.0)
    tags = load_tag_table(run.tags) if run.tags.exists() else {}
    recs = model.recommend([user_id], k, tags=tags, beta=beta)
    interests: list[str] = []
    if run.interests.exists():
        from recgpt.stages.interests import kept_interests

        interests = kept_interests(pq.read_table(run.interests)).get(user_id, [])
    table = None
    if run.explanations.exists():
        from recgpt.stages.explanations import ExplanationTable

        table = ExplanationTable(run.explanations)
    items = {r["item_id"]: r for r in dataset.items.select(["item_id", "title", "category"]).to_pylist()}
    out = []
    for rank, (item, score) in enumerate(recs.for_user(user_id)):
        found = table.lookup(interests, item) if table is not None else None
        out.append(ExplainedItem(rank + 1, item, items[item]["title"], items[item]["category"], score,
                                 found.explanation if found else "", found.interest if found else ""))
    if table is not None:
        table.close()
    context = {"user_id": user_id, "beta": beta, "interests": interests, "tags": tags.get(user_id, []),
               "llm_tags": bool(tags.get(user_id))}
    return out, context


def explained_table(items: list[ExplainedItem], context: dict) -> Table:
    """A rich table of the recommendations with their explanations, for the terminal."""
    source = "LLM tags" if context["llm_tags"] else "item-title tags (the LLM stages did not run for this user)"
    table = Table(title=f"user {context['user_id']}: fused retrieval, beta={context['beta']:g}, {source}")
    for col in ("#", "item", "title", "category", "explanation", "matched interest"):
        table.add_column(col, overflow="fold")
    for it in items:
        table.add_row(str(it.rank), it.item_id, it.title, it.category, it.explanation or "-",
                      it.interest or ("(item only)" if it.explanation else "-"))
    if context["interests"]:
        table.caption = "interests: " + "; ".join(context["interests"])
    return table
