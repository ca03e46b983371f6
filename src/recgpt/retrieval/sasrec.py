"""``sasrec``: the sequential reference model (SASRec, Kang & McAuley 2018) as a baseline behind the retriever
contract, so that ``recgpt evaluate-retrievers --sequential`` and the pipeline's report (``evaluation.sequential``)
put the TAR beside a sequential model on the user's own data.

The network is the one of ``benchmarks/bench_sasrec_reference.py`` (RecBole's defaults): item-id embeddings
shared by input and output, learned positions, LayerNorm + dropout, post-LN causal self-attention layers with a
GELU feed-forward of 4 x dim, full softmax over the catalog, Adam, N(0, 0.02) initialisation. Training uses
``dataset.events`` (every next-item position of every user), early-stopped on dev Recall@20 like the TAR.
Scores of a user: the last hidden state of their visible history (the last ``max_len`` items) against every
item vector, shape (n_users, n_items); a user without history gets the training popularity.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from recgpt.retrieval.baselines import HistoryRecommender

log = logging.getLogger("recgpt.retrieval")


def _network(n_items: int, dim: int, n_layers: int, n_heads: int, max_len: int, dropout: float):
    import torch
    from torch import nn

    class SASRec(nn.Module):
        """forward(items (B, L), pad = n_items) -> hidden states (B, L, dim); item vectors ``item.weight[:n]``."""

        def __init__(self):
            super().__init__()
            self.item = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
            self.pos = nn.Embedding(max_len, dim)
            self.norm = nn.LayerNorm(dim)
            self.drop = nn.Dropout(dropout)
            layer = nn.TransformerEncoderLayer(dim, n_heads, 4 * dim, dropout, batch_first=True, activation="gelu")
            self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
            for param in self.parameters():
                if param.dim() > 1:
                    nn.init.normal_(param, std=0.02)

        def forward(self, items: torch.Tensor) -> torch.Tensor:
            """Left-padded items (as RecBole and the reference benchmark: pads are not masked as keys; masking
            them measured far worse here); positions count from the end."""
            length = items.shape[1]
            h = self.drop(self.norm(self.item(items) + self.pos.weight[max_len - length:]))
            causal = torch.triu(torch.full((length, length), float("-inf")), 1)
            return self.encoder(h, mask=causal)

    return SASRec()


class SASRecRecommender(HistoryRecommender):
    """SASRec over the catalog; options are the network's and the training's (defaults: RecBole's)."""

    batch_size = 512

    def __init__(self, dim: int = 64, n_layers: int = 2, n_heads: int = 2, max_len: int = 50, dropout: float = 0.5,
                 lr: float = 1e-3, batch: int = 256, epochs: int = 40, eval_every: int = 2, patience: int = 5,
                 seed: int = 0, threads: int = 1):
        self.options = dict(dim=int(dim), n_layers=int(n_layers), n_heads=int(n_heads), max_len=int(max_len),
                            dropout=float(dropout), lr=float(lr), batch=int(batch), epochs=int(epochs),
                            eval_every=int(eval_every), patience=int(patience), seed=int(seed), threads=int(threads))
        self.training_log: list[dict] = []

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.options)

    def fit(self, dataset, fold: str | None = "dev"):
        self._dataset = dataset  # the dev targets for early stopping
        try:
            return super().fit(dataset, fold)
        finally:
            del self._dataset

    def _build(self):
        o = self.options
        return _network(len(self.catalog), o["dim"], o["n_layers"], o["n_heads"], o["max_len"], o["dropout"])

    def _state(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        import torch

        self.net = self._build()
        self.net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
        self.net.eval()

    def _dev_recall(self) -> float | None:
        from recgpt.retrieval.evaluate import holdout_targets
        from recgpt.retrieval.interactions import Sequences
        from recgpt.retrieval.metrics import recall_at_k

        dataset = getattr(self, "_dataset", None)
        if dataset is None or not dataset.holdout.num_rows:
            return None
        try:
            users, targets = holdout_targets(dataset, "dev", self.catalog)
        except Exception:  # no dev rows: no early stopping
            return None
        visible, self.history = getattr(self, "history", None), Sequences.from_events(dataset.history("dev"), self.catalog)
        try:
            return recall_at_k(self.recommend(users, 20).item_index, targets, 20)
        finally:
            if visible is not None:
                self.history = visible

    def _fit_model(self) -> None:
        import torch
        from torch import nn

        from recgpt.retrieval.train import left_pad

        o = self.options
        torch.manual_seed(o["seed"])
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(o["threads"])
        try:
            n = len(self.catalog)
            self.net = self._build()
            optimizer = torch.optim.Adam(self.net.parameters(), lr=o["lr"])
            sequences = [s for s in self.train.items if len(s) >= 2]
            rng = np.random.default_rng(o["seed"])
            best, best_state, waited = -1.0, None, 0
            self.training_log = []
            for epoch in range(1, o["epochs"] + 1):
                self.net.train()
                start, total = time.perf_counter(), 0.0
                order = rng.permutation(len(sequences))
                for first in range(0, len(order), o["batch"]):
                    batch = [sequences[i] for i in order[first: first + o["batch"]]]
                    width = min(o["max_len"], max(len(s) for s in batch) - 1)
                    inputs = left_pad([s[:-1] for s in batch], width, n)
                    targets = left_pad([s[1:] for s in batch], width, -100)
                    logits = self.net(inputs) @ self.net.item.weight[:n].T
                    loss = nn.functional.cross_entropy(logits.reshape(-1, n), targets.reshape(-1), ignore_index=-100)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    total += loss.item()
                entry = {"epoch": epoch, "loss": total, "seconds": time.perf_counter() - start}
                if o["eval_every"] and epoch % o["eval_every"] == 0:
                    self.net.eval()
                    dev = self._dev_recall()
                    if dev is not None:
                        entry["dev"] = dev
                        if dev > best:
                            best, waited = dev, 0
                            best_state = {k: v.clone() for k, v in self.net.state_dict().items()}
                        else:
                            waited += 1
                log.info("sasrec epoch %d: %s", epoch, {k: round(v, 4) for k, v in entry.items()})
                self.training_log.append(entry)
                if best_state is not None and waited >= o["patience"]:
                    break
            if best_state is not None:
                self.net.load_state_dict(best_state)
            self.net.eval()
        finally:
            torch.set_num_threads(previous_threads)

    def _scores(self, user_ids) -> np.ndarray:
        import torch

        from recgpt.retrieval.train import left_pad

        n = len(self.catalog)
        max_len = self.options["max_len"]
        seqs = [self.history.get(u)[0][-max_len:] for u in user_ids]
        scores = np.zeros((len(seqs), n), dtype=np.float32)
        lengths = np.array([max(1, len(s)) for s in seqs])
        with torch.no_grad():
            self.net.eval()
            for length in np.unique(lengths):  # users of one history length together: no padding, so a user's
                rows = np.flatnonzero(lengths == length)  # scores do not depend on who else is in the batch
                hidden = self.net(left_pad([seqs[r] for r in rows], int(length), n))[:, -1]
                scores[rows] = (hidden @ self.net.item.weight[:n].T).numpy()
        cold = [r for r, s in enumerate(seqs) if len(s) == 0]
        if cold:  # no history to read: the most popular items
            scores[cold] = np.asarray(self.popularity, dtype=np.float32)[None, :]
        return scores
