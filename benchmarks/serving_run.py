"""Complete a run folder for the serving benchmarks without an LLM: tuned beta, stand-in LLM stages, and the
explanation table produced by the real stage code in either production mode, with its served coverage.

The run folder must hold what the pipeline makes without an LLM (``recgpt run --until retriever``: data, sample,
behavior, phi, retriever). This script then writes

* ``eval/tuning.json``: beta tuned on dev (``retrieval.quality.tune_beta``, 1,500 dev users, as the pipeline);
* stand-ins for the sampled users' LLM output, shaped like what SmolLM2 writes (README: its interests are mostly
  the preset interests of the pool, its tags mostly the catalog hints): interests = the readable names of the
  user's two most frequent history categories, tags = the catalog hints for each interest
  (``stages.tags.CatalogHints``: popular short titles of the categories phi maps the interest to), each tag's
  category by phi;
* ``stages/explanations.sqlite`` by ``stages.runner.run_explanations`` in ``--production`` mode, the model
  scripted to answer one short explanation per pair that passes the Table 6 checks, so the coverage printed is
  what the pairing covers (multiply by the real model's pass rate for what it would serve).

It is a load-test fixture, not an evaluation of LLM output.

    .venv/bin/python benchmarks/serving_run.py --run runs/amazon-office --production catalog
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def tune(run, dataset) -> float:
    from recgpt.retrieval.quality import tune_beta
    from recgpt.retrieval.saved import load_model

    model = load_model(run.retriever)
    beta, scores = tune_beta(model, dataset, k=20, max_users=1500, seed=0)
    run.tuning.write_text(json.dumps({"beta_tuned": beta, "beta_grid": {f"{b:g}": v for b, v in scores.items()},
                                      "beta_metric": "recall@20"}))
    return beta


def stand_in_stages(run, dataset, users: list[str]) -> None:
    from recgpt.stages.interest_pool import category_interest
    from recgpt.stages.phi import TagToCategory
    from recgpt.stages.runner import popularity
    from recgpt.stages.tags import CatalogHints

    phi = TagToCategory.load(run.phi)
    hints = CatalogHints(dataset.items, popularity(dataset, "test"), phi)
    category = dict(zip(dataset.items.column("item_id").to_pylist(), dataset.items.column("category").to_pylist()))
    history = dataset.history("test").to_pylist()
    interest_rows, tag_rows = [], []
    for user in users:
        mine = [r["item_id"] for r in history if r["user_id"] == user]
        for n, (cat, _) in enumerate(Counter(category[i] for i in mine).most_common(2), start=1):
            interest = category_interest(cat)
            interest_rows.append({"user_id": user, "interest_id": f"{user}:{n:02d}", "interest": interest,
                                  "stage": "listed", "reason": f"bought {cat.lower()} items",
                                  "passed_checks": True, "failed_check": None})
            for tag in hints(interest, set(mine), 3):
                tag_rows.append({"user_id": user, "tag": tag, "interest": interest, "reason": "stand-in",
                                 "category": phi.predict_topk([tag], 1)[0][0][0], "passed_checks": True,
                                 "failed_check": None})
    every = pa.Table.from_pylist(interest_rows)
    pq.write_table(every, run.interests_all)
    pq.write_table(every.drop(["passed_checks", "failed_check"]), run.interests)
    pq.write_table(pa.Table.from_pylist(tag_rows), run.tags)


def explanations(run, dataset, production: str, item_only_items: int, max_pairs: int, depth: int) -> dict:
    from recgpt.llm.config import LLMConfig
    from recgpt.llm.fake import FakeBackend
    from recgpt.llm.runtime import LLMRuntime
    from recgpt.stages.config import ExplanationsConfig
    from recgpt.stages.explanations import ExplanationTable, explanation_coverage
    from recgpt.stages.interests import kept_interests
    from recgpt.stages.runner import served_lists

    def script(prompt: str) -> str:
        cat = prompt.split("Category: ")[1].split("\n")[0].lower()
        return json.dumps({"explanation": f"A fitting {cat} choice for the working week"})

    served = served_lists(run, dataset, depth)
    sample = json.loads(run.sample.read_text())["users"]
    config = ExplanationsConfig(production=production, items_per_interest=2, item_only_items=item_only_items,
                                max_pairs=max_pairs, served_depth=depth)
    runtime = LLMRuntime(LLMConfig(progress=False), cache_path=None, usage_path=None, backend=FakeBackend(script))
    shown = {u: served[u][:5] for u in sample}  # the demo explains the top 5 (evaluation.explain_top)
    outcome = run_explanations_with(run, dataset, runtime, config, shown, served)
    table = ExplanationTable(run.explanations, config.match_similarity)
    coverage = explanation_coverage(table, served, kept_interests(pq.read_table(run.interests)))
    table.close()
    return {"production": production, "pairs": outcome.counts["pairs"], "passed": outcome.counts["passed"], **coverage}


def run_explanations_with(run, dataset, runtime, config, shown, served):
    from recgpt.stages.runner import run_explanations

    return run_explanations(run, dataset, runtime, config, recommended=shown, replace=True, served=served)


def main() -> None:
    from recgpt.data.store import load_dataset
    from recgpt.runfolder import RunFolder

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--production", choices=["shown", "catalog"], default="catalog")
    parser.add_argument("--item-only-items", type=int, default=100)
    parser.add_argument("--max-pairs", type=int, default=300)
    parser.add_argument("--depth", type=int, default=20)
    args = parser.parse_args()
    run = RunFolder(args.run)
    dataset = load_dataset(run.data)
    started = time.perf_counter()
    if not run.tuning.exists():
        print(f"beta tuned on dev: {tune(run, dataset):g}")
    if not run.tags.exists():
        stand_in_stages(run, dataset, json.loads(run.sample.read_text())["users"])
    result = explanations(run, dataset, args.production, args.item_only_items, args.max_pairs, args.depth)
    print(json.dumps({**result, "seconds": round(time.perf_counter() - started, 1)}, indent=2))


if __name__ == "__main__":
    main()
