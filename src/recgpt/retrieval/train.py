"""Training of the user-item-tag retriever: the seeded minibatch loop (resumable per epoch).

One epoch visits every training user once. For a user with training sequence s (catalog positions, in time
order) the user tower reads s[:-1] causally and every position t is trained to predict s[t+1] (L_col); the items
of the batch also give tag-item pairs (L_tag) and category pairs (L_cate).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from recgpt.progress import ProgressFn, reporter
from recgpt.retrieval.checkpoint import Checkpoint, LoopState, training_key
from recgpt.retrieval.config import TARConfig
from recgpt.retrieval.losses import category_loss, collaborative_loss, tag_loss, tar_loss


log = logging.getLogger("recgpt.retrieval")


@dataclass
class TrainingData:
    """Tensors the loop needs. sequences: per user (items, behaviors) int64 arrays; user_rows: 1 + row."""

    sequences: list[tuple[np.ndarray, np.ndarray]]
    user_rows: np.ndarray
    tag_inputs: torch.Tensor  # (n_items, T) token ids, or (n_items, 384) MiniLM vectors
    item_category: torch.Tensor  # (n_items,)
    n_items: int


def left_pad(seqs: list[np.ndarray], length: int, fill: int) -> torch.Tensor:
    """(B, length) int64: the last ``length`` values of each sequence, left-padded with ``fill``."""
    out = np.full((len(seqs), length), fill, dtype=np.int64)
    for r, s in enumerate(seqs):
        s = s[-length:]
        if len(s):
            out[r, length - len(s) :] = s
    return torch.from_numpy(out)


def drop_tokens(tokens: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Zero out (pad) each non-pad token with probability p, keeping the first token of every row."""
    if p <= 0 or tokens.dtype != torch.long:
        return tokens
    keep = torch.rand(tokens.shape, generator=gen) >= p
    keep[:, 0] = True
    return tokens * keep


def same_category_sample(items: np.ndarray, category: np.ndarray, rng) -> np.ndarray:
    """For each item, a random item of its category (possibly itself when the category is a singleton)."""
    by_cat = np.argsort(category, kind="stable")
    counts = np.bincount(category)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    cats = category[items]
    return by_cat[starts[cats] + (rng.random(len(items)) * counts[cats]).astype(np.int64)]


def random_batches(rows: np.ndarray, batch_size: int, rng) -> list[np.ndarray]:
    """``rows`` in random order, cut into batches of ``batch_size`` users."""
    order = rng.permutation(rows)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def sorted_by(values: np.ndarray, rows: np.ndarray, rng) -> np.ndarray:
    """``rows`` in ascending ``values[rows]``, ties in random order."""
    return rows[np.lexsort((rng.random(len(rows)), values[rows]))]


def shuffled(batches: list[np.ndarray], rng) -> list[np.ndarray]:
    return [batches[i] for i in rng.permutation(len(batches))]


def length_batches(lengths: np.ndarray, rows: np.ndarray, batch_size: int, rng) -> list[np.ndarray]:
    """Batches of ``batch_size`` users with similar sequence lengths (less padding), in random order."""
    order = sorted_by(lengths, rows, rng)
    return shuffled([order[i : i + batch_size] for i in range(0, len(order), batch_size)], rng)


def position_batches(positions: np.ndarray, rows: np.ndarray, batch_size: int, rng) -> list[np.ndarray]:
    """Batches of users with similar sequence lengths that each hold about the same number of training
    positions (``batch_size`` times the mean per user), in random order.

    ``positions[r]`` is the number of next-item targets of user r. Every batch's loss is a mean over its
    positions, so equal positions per batch give every target the same weight, as random batches do, while
    padding stays as low as with :func:`length_batches`. Ties in length are broken at random each epoch.
    """
    order = sorted_by(positions, rows, rng)
    cumulative = np.cumsum(positions[order])
    budget = batch_size * cumulative[-1] / len(order)
    n_batches = max(1, int(round(cumulative[-1] / budget)))
    cuts = np.searchsorted(cumulative, budget * np.arange(1, n_batches), side="left") + 1
    return shuffled([b for b in np.split(order, cuts) if len(b)], rng)


def epoch_batches(config: TARConfig, lengths: np.ndarray, rows: np.ndarray, rng) -> list[np.ndarray]:
    """One epoch's batches of user rows under ``config.batching``."""
    if config.batching == "random":
        return random_batches(rows, config.batch_size, rng)
    if config.batching == "by_length":
        return length_batches(lengths, rows, config.batch_size, rng)
    return position_batches(np.minimum(lengths - 1, config.max_len), rows, config.batch_size, rng)


def make_optimizers(net: torch.nn.Module, config: TARConfig) -> list[torch.optim.Optimizer]:
    """Adam for dense parameters, SparseAdam for sparse embedding tables (the tag tower's tokens)."""
    sparse = [m.weight for m in net.modules() if isinstance(m, torch.nn.Embedding) and m.sparse]
    sparse_ids = {id(p) for p in sparse}
    dense = [p for p in net.parameters() if id(p) not in sparse_ids]
    optimizers: list[torch.optim.Optimizer] = [
        torch.optim.Adam(dense, lr=config.lr, weight_decay=config.weight_decay)
    ]
    if sparse:
        optimizers.append(torch.optim.SparseAdam(sparse, lr=config.lr))
    return optimizers


def set_learning_rate(optimizers: list[torch.optim.Optimizer], config: TARConfig, progress: float) -> None:
    """Set every optimizer's rate for ``progress`` epochs done (a float): constant, or cosine decay to 0."""
    rate = config.lr
    if config.lr_schedule == "cosine":
        rate = 0.5 * config.lr * (1.0 + np.cos(np.pi * min(progress / config.epochs, 1.0)))
    for optim in optimizers:
        for group in optim.param_groups:
            group["lr"] = rate


def train_step(net, data: TrainingData, config: TARConfig, rows: np.ndarray, lengths: np.ndarray,
               optimizers, rng: np.random.Generator, gen: torch.Generator) -> tuple[int, list[float]]:
    """One optimizer step on the users ``rows``; returns (next-item samples, [L_col, L_tag, L_cate])."""
    seqs = [data.sequences[r] for r in rows]
    width = min(config.max_len, int(lengths[rows].max()) - 1)
    items = left_pad([s[:-1] for s, _ in seqs], width, data.n_items)
    behav = left_pad([h[:-1] for _, h in seqs], width, 0)
    targets = left_pad([s[1:] for s, _ in seqs], width, -1)
    valid = targets >= 0
    h_items = net.items()
    h_user = net.user(torch.from_numpy(data.user_rows[rows]), items, behav, h_items)[valid]
    negs = torch.from_numpy(rng.choice(data.n_items, min(config.n_negatives, data.n_items), replace=False))
    l_col = collaborative_loss(h_user, h_items, targets[valid], negs, config.temperature)
    tag_items = torch.unique(targets[valid])
    h_tag = net.tags(drop_tokens(data.tag_inputs[tag_items], config.tag_word_dropout, gen))
    l_tag = tag_loss(h_tag, h_items, tag_items, negs, config.temperature)
    same = torch.from_numpy(same_category_sample(tag_items.numpy(), data.item_category.numpy(), rng))
    l_cate = category_loss(h_tag, h_items, tag_items, same, negs, data.item_category, config.temperature)
    loss = l_col + config.sem_weight * (tar_loss(l_col, l_tag, l_cate, config.alpha) - l_col)
    for optim in optimizers:
        optim.zero_grad()
    loss.backward()
    for optim in optimizers:
        optim.step()
    return int(valid.sum()), [l_col.item(), l_tag.item(), l_cate.item()]


def train_tar(
    net: torch.nn.Module,
    data: TrainingData,
    config: TARConfig,
    evaluate: Callable[[], float] | None = None,
    checkpoint: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> list[dict]:
    """Train ``net`` in place; returns one record per epoch (losses, seconds, samples/s, dev score).

    With ``evaluate`` (a dev metric, higher is better) the best epoch's weights are restored at the end and
    training stops after ``patience`` evaluations without improvement. With ``checkpoint`` (a file path) the
    state after every epoch is saved there, a killed run called again with the same configuration and data
    resumes after its last finished epoch (and trains exactly as it would have), and the file is removed at the
    end. ``progress`` is told after every epoch, with the epoch's record as its figures.
    """
    if config.flush_denormals:
        flush_subnormals()
    return _train_tar(net, data, config, evaluate, checkpoint, progress)


def flush_subnormals() -> bool:
    """Read and write subnormal floats as zero (the CPU's DAZ/FTZ flags) from now on, on this thread and on the
    OpenMP workers it creates later; returns False where the CPU cannot. The flags belong to a thread and a
    worker copies them once, when it is created: call this before the process's first parallel operation
    (``recgpt run`` and the retriever commands do) to cover every worker. Called later, it reaches the
    calling thread's share of the work only (half of it on 2 threads).

    Running the training on a new thread, whose workers would be created with the flags, was tried and
    measured slower: 47.4 against 33.9 s for 5 epochs, with 1.37 cores busy against 1.80."""
    return torch.set_flush_denormal(True)


def _train_tar(net, data: TrainingData, config: TARConfig, evaluate, checkpoint, progress) -> list[dict]:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    optimizers = make_optimizers(net, config)
    lengths = np.array([len(s) for s, _ in data.sequences])
    trainable = np.flatnonzero(lengths >= 2)
    key = training_key(config, data.sequences, data.user_rows, data.tag_inputs, data.n_items) if checkpoint else ""
    saver = Checkpoint(checkpoint, key)
    state = saver.restore(net, optimizers, rng, gen)
    if state is not None:
        log.info("resuming retriever training after epoch %d from %s", state.epoch, checkpoint)
    state = state or LoopState()
    progress = reporter(progress)
    progress("training retriever", state.epoch, config.epochs)
    for epoch in range(state.epoch, config.epochs):
        if evaluate is not None and state.stale >= config.patience:
            break
        net.train()
        start, samples, sums = time.perf_counter(), 0, np.zeros(3)
        batches = epoch_batches(config, lengths, trainable, rng)
        for step, rows in enumerate(batches):
            set_learning_rate(optimizers, config, epoch + step / len(batches))
            n, losses = train_step(net, data, config, rows, lengths, optimizers, rng, gen)
            samples += n
            sums += losses
        seconds = time.perf_counter() - start
        record = dict(
            epoch=epoch + 1, l_col=float(sums[0] / len(batches)), l_tag=float(sums[1] / len(batches)),
            l_cate=float(sums[2] / len(batches)), seconds=seconds, samples_per_s=samples / seconds,
        )
        if evaluate is not None and config.eval_every and (epoch + 1) % config.eval_every == 0:
            net.eval()
            record["dev"] = score = evaluate()
            if score > state.best:
                state.best, state.best_state, state.stale = score, copy.deepcopy(net.state_dict()), 0
            else:
                state.stale += 1
        state.history.append(record)
        state.epoch = epoch + 1
        saver.save(state, net, optimizers, rng, gen)
        log.info(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        progress("training retriever", state.epoch, config.epochs,
                 **{k: v for k, v in record.items() if k in ("l_col", "dev")})
    if state.best_state is not None:
        net.load_state_dict(state.best_state)
    net.eval()
    saver.remove()
    return state.history
