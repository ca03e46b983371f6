"""trl's SFT trainer with the loss computed on the completion positions only.

trl 1.16 scores every position of a batch with its chunked log-probability kernel when it runs without Triton (on
the CPU), in float32, so the 49,152-word vocabulary projection runs over the prompt too, and in Python-level
chunks. A tag sample is about 500 prompt tokens and 50 completion tokens: projecting only the positions the loss
reads (those whose label is not -100) takes the head's cost down tenfold and is what made training on 2 cores
four times faster here (``benchmarks/bench_alignment_training.py``).

Import this module only where training happens: it imports torch and trl.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from trl import SFTTrainer


class CompletionOnlySFTTrainer(SFTTrainer):
    """An ``SFTTrainer`` whose loss is the mean cross-entropy of the completion tokens, the vocabulary projection
    applied to those positions only. Logs ``mean_token_accuracy`` (greedy next-token hits on the completion)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"][:, 1:]
        scored = labels != -100  # (batch, length - 1): positions whose next token is a completion token
        causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
        autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if self.args.bf16 and not _is_bf16(causal_lm)
                    else contextlib.nullcontext())
        with autocast:
            hidden = causal_lm.get_decoder()(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                             use_cache=False).last_hidden_state[:, :-1]
            logits = causal_lm.get_output_embeddings()(hidden[scored])  # (completion tokens, vocabulary)
        target = labels[scored]
        count = torch.as_tensor(num_items_in_batch if num_items_in_batch is not None else target.numel())
        loss = F.cross_entropy(logits.float(), target, reduction="sum") / count.clamp(min=1)
        mode = "train" if model.training else "eval"
        with torch.no_grad():
            accuracy = (logits.argmax(-1) == target).float().mean().item() if target.numel() else 0.0
        self._metrics[mode]["mean_token_accuracy"].append(accuracy)
        return (loss, {"loss": loss}) if return_outputs else loss


def _is_bf16(model) -> bool:
    return next(model.parameters()).dtype == torch.bfloat16
