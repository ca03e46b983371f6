"""Quality and training-speed table of the retrieval area on Amazon Office (full ranking, DESIGN protocol).

For each TAR variant: train on train.csv (early stopping on dev Recall@20), report training samples/s and
seconds per epoch, tune beta on dev, then evaluate on test (history = train + dev) at beta = 1, 0 and tuned,
with item-title tags (titles of each user's last 3 items). Baselines: popular, EASE, item-kNN, tuned on dev over
their grids and refitted on train + dev for test (``--untuned-baselines``: their defaults fitted on train);
``--sequential`` adds the SASRec reference (registry ``sasrec``). ``--variants`` with no name: baselines only.

    .venv/bin/python benchmarks/bench_retrieval_quality.py --variants seq mean --threads 2 \
        --out benchmarks/results/retrieval_quality --save runs/office-retriever
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from recgpt.config import parse_key_values
from recgpt.data.loaders import load_amazon_office
from recgpt.retrieval.evaluate import pivot, write_table
from recgpt.retrieval.quality import baseline_rows, quality_rows
from recgpt.retrieval.tar import TARRecommender
from recgpt.retrieval.config import TARConfig

VARIANTS = {
    "seq": {},
    "mean": {"user_tower": "mean"},
    "mean-noid": {"user_tower": "mean", "use_user_id": False},
    "seq-minilm_init": {"tag_encoder": "minilm_init"},
    "seq-minilm_feed": {"tag_encoder": "minilm_feed"},
    "seq-short": {"tag_source": "short"},
    "seq-nosem": {"sem_weight": 0.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/amazon-office")
    parser.add_argument("--variants", nargs="*", default=["seq", "mean"], choices=sorted(VARIANTS))
    parser.add_argument("--set", nargs="*", default=[], help="TARConfig overrides for every variant: KEY=VALUE")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--untuned-baselines", action="store_true")
    parser.add_argument("--sequential", action="store_true", help="also the SASRec reference")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/retrieval_quality"))
    parser.add_argument("--save", type=Path, help="save the first variant's trained model here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the training's epoch lines
    torch.set_num_threads(args.threads)
    common = parse_key_values(args.set, "--set") | {"threads": args.threads}
    dataset = load_amazon_office(args.data)
    rows: list[dict] = [] if args.no_baselines else baseline_rows(dataset, "test", tune=not args.untuned_baselines)
    if args.sequential:
        from recgpt.retrieval.base import create
        from recgpt.retrieval.evaluate import evaluate

        start = time.perf_counter()
        reference = create("sasrec", threads=args.threads).fit(dataset, "dev")
        best = max((r.get("dev", 0.0) for r in reference.training_log), default=0.0)
        print(f"[sasrec] best dev {best:.4f}, {len(reference.training_log)} epochs, "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        rows += evaluate(reference, dataset, "test", "sasrec (sequential reference)")
    speed = {}
    for i, name in enumerate(args.variants):
        config = TARConfig(**(common | VARIANTS[name]))
        start = time.perf_counter()
        model = TARRecommender(config).fit(dataset, "dev")
        fit_s = time.perf_counter() - start
        log = model.training_log
        speed[name] = dict(
            fit_seconds=fit_s, epochs=len(log), seconds_per_epoch=float(np.mean([r["seconds"] for r in log])),
            samples_per_s=float(np.mean([r["samples_per_s"] for r in log])),
            best_dev=max((r.get("dev", 0.0) for r in log), default=0.0), config=config.model_dump(),
        )
        print(f"[{name}] {json.dumps({k: v for k, v in speed[name].items() if k != 'config'})}", flush=True)
        rows += quality_rows(dataset, model, "test", name=f"tar-{name}", baselines=False)
        if args.save and i == 0:
            model.use_history(dataset, None)
            model.save(args.save)
        print(pivot(rows), flush=True)
    path = write_table(rows, args.out.with_suffix(".parquet"))
    args.out.with_name(args.out.name + "_speed.json").write_text(json.dumps(speed, indent=1))
    print("\n" + pivot(rows, k=20) + "\n\n" + pivot(rows, metrics=("recall", "ndcg", "categories", "long_tail"), k=50))
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
