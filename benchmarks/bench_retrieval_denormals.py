"""Seconds per epoch of the retriever's training with and without flushing subnormal floats, side by side.

As training goes on, more weights and gradients shrink into float32's subnormal range (below 1.18e-38), where
the CPU's arithmetic is many times slower; ``TARConfig.flush_denormals`` (on by default) treats them as zero.
Both runs train ``--epochs`` epochs with the same seed and data and no early stopping; the table gives the mean
seconds of the first and the last five epochs, the whole training, and dev Recall@20 at the end.

    .venv/bin/python benchmarks/bench_retrieval_denormals.py --epochs 40 --threads 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from recgpt.data.loaders import load_amazon_office
from recgpt.retrieval.config import TARConfig
from recgpt.retrieval.tar import TARRecommender


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/amazon-office")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    dataset = load_amazon_office(args.data)
    print("| flush_denormals | s/epoch, first 5 | s/epoch, last 5 | training s | dev recall@20 |")
    print("|---|---:|---:|---:|---:|")
    for flush in (False, True):
        config = TARConfig(epochs=args.epochs, eval_every=args.epochs, patience=1, threads=args.threads,
                           flush_denormals=flush)
        start = time.perf_counter()
        log = TARRecommender(config).fit(dataset, "dev").training_log
        seconds = [r["seconds"] for r in log]
        print(f"| {flush} | {np.mean(seconds[:5]):.2f} | {np.mean(seconds[-5:]):.2f} | "
              f"{time.perf_counter() - start:.0f} | {log[-1].get('dev', float('nan')):.4f} |", flush=True)


if __name__ == "__main__":
    main()
