"""Explanation coverage of what `recgpt serve` shows, for a finished run's lookup table.

For every user of the run, the served list (``stages.runner.served_lists``: fused retrieval over the whole
visible history at the tuned beta, LLM tags where the user has them) is cut at ``--depth``; each slot is looked up
in ``RUN/stages/explanations.sqlite`` as the service does. Prints the shares of slots with an explanation of one
of the user's interests, with an item-only one, and with none, over all users and over the users with interests;
the share of slots production wrote a pair for (passed or not); and the evaluation's own count from
``RUN/eval/explained.parquet`` (the sampled users' top ``evaluation.explain_top``).

    .venv/bin/python benchmarks/bench_explanation_coverage.py --run runs/amazon-office --depth 20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pyarrow.parquet as pq

from recgpt.data.store import load_dataset
from recgpt.runfolder import RunFolder
from recgpt.stages.explanations import ExplanationTable, explanation_coverage
from recgpt.stages.interests import kept_interests
from recgpt.stages.runner import served_lists


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("runs/amazon-office"))
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--match-similarity", type=float, default=None, help="default: the run's configuration")
    args = parser.parse_args()
    run = RunFolder(args.run)
    started = time.perf_counter()
    served = served_lists(run, load_dataset(run.data), args.depth)
    similarity = args.match_similarity
    if similarity is None:
        from recgpt.serve.state import _run_similarity

        similarity = _run_similarity(run)
    table = ExplanationTable(run.explanations, similarity)
    counts = table.count()
    coverage = explanation_coverage(table, served, kept_interests(pq.read_table(run.interests)))
    table.close()
    result = {"run": str(run.root), "depth": args.depth, "table_rows": counts["rows"], "table_passed": counts["passed"],
              **coverage, "seconds": round(time.perf_counter() - started, 1)}
    if run.explained.exists():
        sources = pq.read_table(run.explained).column("source").to_pylist()
        result["eval_shown"] = len(sources)
        result.update({f"eval_{kind}": sources.count(kind) for kind in ("interest", "item", "none")})
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
