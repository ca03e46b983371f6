"""Epoch checkpoints of retriever training, so a killed ``fit`` resumes where it stopped.

After every epoch :func:`~recgpt.retrieval.train.train_tar` writes one file (atomically: a temporary file, then
a rename) holding everything the next epoch depends on: the network, the optimizers, the three random
generators (NumPy's for batches and negatives, the tag-dropout generator, torch's global one for dropout), the
epoch log and the early-stopping state. A resumed run therefore trains exactly as an uninterrupted one would.

A checkpoint belongs to one configuration and one training set: its ``key`` hashes both, and a checkpoint with
another key is ignored (and overwritten), never loaded into a different run. It holds tensors and plain Python
values only and is read with ``torch.load(weights_only=True)``, which never runs pickled code.
"""

from __future__ import annotations

import hashlib
import os
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger("recgpt.retrieval")


def training_key(config, sequences, user_rows: np.ndarray, tag_inputs: torch.Tensor, n_items: int) -> str:
    """SHA-256 of the configuration (all but ``threads``) and of the training tensors."""
    digest = hashlib.sha256(config.model_dump_json(exclude={"threads"}).encode())
    digest.update(np.int64(n_items).tobytes())
    for items, behaviors in sequences:
        digest.update(np.int64(len(items)).tobytes())
        digest.update(np.ascontiguousarray(items, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(behaviors, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(user_rows, dtype=np.int64).tobytes())
    digest.update(tag_inputs.contiguous().numpy().tobytes())
    return digest.hexdigest()


@dataclass
class LoopState:
    """What the training loop carries from one epoch to the next (besides the network and optimizers)."""

    epoch: int = 0  # epochs finished
    history: list[dict] = field(default_factory=list)
    best: float = -np.inf
    best_state: dict | None = None
    stale: int = 0


class Checkpoint:
    """One checkpoint file at ``path`` for the run identified by ``key``; ``path=None`` disables it."""

    def __init__(self, path: str | Path | None, key: str):
        self.path = Path(path) if path is not None else None
        self.key = key

    def save(self, state: LoopState, net, optimizers, rng: np.random.Generator, gen: torch.Generator) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        blob = {
            "key": self.key, "loop": state.__dict__, "net": net.state_dict(),
            "optimizers": [o.state_dict() for o in optimizers], "numpy_rng": dict(rng.bit_generator.state),
            "tag_rng": gen.get_state(), "torch_rng": torch.get_rng_state(),
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save(blob, tmp)
        os.replace(tmp, self.path)

    def restore(self, net, optimizers, rng: np.random.Generator, gen: torch.Generator) -> LoopState | None:
        """Load the checkpoint into ``net``, ``optimizers`` and the generators; None when there is none for this key."""
        if self.path is None or not self.path.exists():
            return None
        try:
            blob = torch.load(self.path, weights_only=True)
        except Exception as exc:  # unreadable (another torch version, a damaged disk): train afresh
            log.warning("ignoring unreadable retriever checkpoint %s (training afresh): %s", self.path, exc)
            return None
        if blob.get("key") != self.key:
            return None
        net.load_state_dict(blob["net"])
        for optim, saved in zip(optimizers, blob["optimizers"]):
            optim.load_state_dict(saved)
        rng.bit_generator.state = blob["numpy_rng"]
        gen.set_state(blob["tag_rng"])
        torch.set_rng_state(blob["torch_rng"])
        return LoopState(**blob["loop"])

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
