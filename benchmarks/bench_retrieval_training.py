"""Training speed of the retriever on Amazon Office by batching mode, side by side in one process.

For each ``batching`` value: train ``--epochs`` epochs with the default TARConfig (no early stopping), then print
seconds per epoch, next-item samples per second, the padded share of the user tower's input and the dev
Recall@20 reached. The same seed and data for every mode, so the ratios between rows are the figure to read.

    .venv/bin/python benchmarks/bench_retrieval_training.py --epochs 4 --threads 2
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from recgpt.data.loaders import load_amazon_office
from recgpt.data.catalog import Catalog
from recgpt.retrieval.interactions import Sequences
from recgpt.retrieval.tar import TARRecommender
from recgpt.retrieval.config import TARConfig
from recgpt.retrieval.train import epoch_batches


def padded_share(batches: list[np.ndarray], lengths: np.ndarray, max_len: int) -> float:
    """Share of the (batch x width) user-tower input slots that are padding, over one epoch's batches."""
    slots = real = 0
    for b in batches:
        width = min(max_len, int(lengths[b].max()) - 1)
        slots += len(b) * width
        real += int(np.minimum(lengths[b] - 1, width).sum())
    return 1.0 - real / slots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/amazon-office")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--modes", nargs="+", default=["by_positions", "by_length", "random"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset = load_amazon_office(args.data)
    catalog = Catalog.from_table(dataset.items)
    lengths = np.array([len(s) for s in Sequences.from_events(dataset.events, catalog).items])
    print(f"{len(lengths)} training users, {int((lengths - 1).clip(min=0).sum())} next-item samples per epoch")
    print("| batching | batches/epoch | padded share | s/epoch | samples/s | dev recall@20 after the last epoch |")
    print("|---|---|---|---|---|---|")
    for mode in args.modes:
        config = TARConfig(batching=mode, epochs=args.epochs, eval_every=args.epochs, patience=1,
                           threads=args.threads)
        batches = epoch_batches(config, lengths, np.flatnonzero(lengths >= 2), np.random.default_rng(0))
        model = TARRecommender(config).fit(dataset, "dev")
        log = model.training_log
        print(
            f"| {mode} | {len(batches)} | {padded_share(batches, lengths, config.max_len):.2f} | "
            f"{np.mean([r['seconds'] for r in log]):.2f} | {np.mean([r['samples_per_s'] for r in log]):.0f} | "
            f"{log[-1].get('dev', float('nan')):.4f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
