"""Reference: a plain SASRec (RecBole's defaults) trained and evaluated on exactly our Amazon Office protocol.

Not part of the package: it answers "is the SASRec bar of 0.162 reachable under this repository's split, history
and Recall@20 code?" Item-id embeddings shared by input and output, LayerNorm + dropout 0.5, two post-LN
attention layers with 2 heads and a 256-wide GELU feed-forward, full softmax, Adam 1e-3, N(0, 0.02) init, dev
early stopping; history items excluded from the ranking as for every retriever here.

    .venv/bin/python benchmarks/bench_sasrec_reference.py --threads 2 --epochs 40
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from recgpt.data.loaders import load_amazon_office
from recgpt.retrieval.evaluate import holdout_targets
from recgpt.retrieval.interactions import Catalog, Sequences
from recgpt.retrieval.train import left_pad

MAX_LEN, DIM = 50, 64


class SASRec(nn.Module):
    """forward(items (B, L), pad = n_items) -> hidden states (B, L, DIM); item vectors are ``item.weight[:n]``."""

    def __init__(self, n_items: int, dropout: float):
        super().__init__()
        self.item = nn.Embedding(n_items + 1, DIM, padding_idx=n_items)
        self.pos = nn.Embedding(MAX_LEN, DIM)
        self.norm = nn.LayerNorm(DIM)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(DIM, 2, 256, dropout, batch_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        for param in self.parameters():
            if param.dim() > 1:
                nn.init.normal_(param, std=0.02)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        length = items.shape[1]
        h = self.drop(self.norm(self.item(items) + self.pos.weight[MAX_LEN - length :]))
        causal = torch.triu(torch.full((length, length), float("-inf")), 1)
        return self.encoder(h, mask=causal)


def recall_at_20(net: SASRec, dataset, catalog: Catalog, fold: str, exclude: bool) -> float:
    users, targets = holdout_targets(dataset, fold, catalog)
    history = Sequences.from_events(dataset.history(fold), catalog)
    n = len(catalog)
    net.eval()
    hits = 0
    with torch.no_grad():
        for start in range(0, len(users), 512):
            seqs = [history.get(u)[0] for u in users[start : start + 512]]
            items = left_pad(seqs, min(MAX_LEN, max(len(s) for s in seqs)), n)
            scores = net(items)[:, -1] @ net.item.weight[:n].T
            if exclude:
                for row, seen in enumerate(seqs):
                    scores[row, seen] = -1e9
            top = scores.topk(20).indices.numpy()
            hits += sum(int(t in row) for t, row in zip(targets[start : start + 512], top))
    return hits / len(users)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/amazon-office")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keep-history", action="store_true", help="do not exclude history items (RecBole's way)")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    dataset = load_amazon_office(args.data)
    catalog = Catalog.from_table(dataset.items)
    n = len(catalog)
    sequences = [s for s in Sequences.from_events(dataset.events, catalog).items if len(s) >= 2]
    net = SASRec(n, args.dropout)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    rng = np.random.default_rng(0)
    best, best_state = 0.0, None
    for epoch in range(args.epochs):
        net.train()
        start, total = time.perf_counter(), 0.0
        order = rng.permutation(len(sequences))
        for first in range(0, len(order), args.batch_size):
            batch = [sequences[i] for i in order[first : first + args.batch_size]]
            width = min(MAX_LEN, max(len(s) for s in batch) - 1)
            inputs = left_pad([s[:-1] for s in batch], width, n)
            targets = left_pad([s[1:] for s in batch], width, -100)
            logits = net(inputs) @ net.item.weight[:n].T
            loss = nn.functional.cross_entropy(logits.reshape(-1, n), targets.reshape(-1), ignore_index=-100)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        if (epoch + 1) % 2 == 0:
            dev = recall_at_20(net, dataset, catalog, "dev", not args.keep_history)
            line = f"epoch {epoch + 1} loss {total:.1f} dev recall@20 {dev:.4f} {time.perf_counter() - start:.1f}s"
            if dev > best:
                best, best_state = dev, {k: v.clone() for k, v in net.state_dict().items()}
                line += " *"
            print(line, flush=True)
    net.load_state_dict(best_state)
    test = recall_at_20(net, dataset, catalog, "test", not args.keep_history)
    print(f"best dev recall@20 {best:.4f}, test recall@20 {test:.4f}", flush=True)


if __name__ == "__main__":
    main()
