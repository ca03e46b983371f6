"""SerenGPT alignment by preference optimisation: trl's DPO trainer with the IPO loss (Azar et al., 2023), LoRA
(peft) on every linear layer of the embedded model, on the CPU. The reference model is the base model itself
(the adapter switched off), so before the first step the policy equals the reference and the IPO loss is
``(1 / (2 beta))**2`` exactly; a training that learns its pairs lowers it.

    result = train_ipo(rows, RUN / "seral" / "models" / "serengpt-ipo", IPOConfig(), heldout=rows_heldout)
    result.manifest["metrics"]    # loss_before / loss_after on the training pairs (and held-out ones), seconds

On the CPU trl scores every position of a batch with its chunked log-probability kernel (its compact path,
which projects only the completion positions onto the vocabulary, is kept for Triton devices, where a varying
count would recompile a kernel). A SerenGPT prompt is about 300 tokens and its answer about 20, so
:func:`completion_positions_only` switches the compact path on for the training here: the same numbers, the
vocabulary projection about fifteen times smaller (as :mod:`recgpt.alignment.sft_trainer` does for SFT).

Import this module only where training happens: it imports torch, transformers, peft and trl.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from recgpt.alignment.trainer import (IN_PROGRESS, TrainingError, TrainingResult, reporter_callback,
                                      resumable_checkpoints)
from recgpt.hardware import resolve_bf16
from recgpt.progress import ProgressFn, reporter
from recgpt.seral.config import IPOConfig

MANIFEST = "manifest.json"
NOT_IN_KEY = {"checkpoint_every"}  # how a training runs, not what it learns


@contextmanager
def completion_positions_only():
    """trl's compact log-probability path (completion positions only) on any device, while inside."""
    import trl.trainer.utils as trl_utils

    original = trl_utils._use_triton
    trl_utils._use_triton = lambda device: True
    try:
        yield
    finally:
        trl_utils._use_triton = original


def rows_hash(rows: list[dict]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def load_policy(config: IPOConfig, base: str | None = None):
    """(tokenizer, LoRA-wrapped model, model source) of the embedded model (or ``base``), float32 weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from recgpt.alignment.config import TrainerConfig
    from recgpt.alignment.trainer import _trainable
    from recgpt.llm.torch_model import resolve_source
    from recgpt.llm.torch_model_files import converted_gguf_folder

    source = resolve_source(base)
    folder = converted_gguf_folder(source.path, None) if source.kind == "gguf" else source.path
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(config.seed)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    lora = TrainerConfig(method="lora", lora_r=config.lora_r, lora_alpha=config.lora_alpha, seed=config.seed)
    return tokenizer, _trainable(model, source, None, lora), source


def train_ipo(rows: list[dict], out: str | Path, config: IPOConfig, heldout: list[dict] | None = None,
              base: str | None = None, progress: ProgressFn | None = None) -> TrainingResult:
    """IPO on conversational preference ``rows`` (:func:`recgpt.seral.pairs.dpo_rows`) into ``out``
    (``adapter/`` and ``manifest.json``); a finished folder with the same rows and configuration is reused.
    Checkpoints every ``checkpoint_every`` steps in ``out/checkpoints``: a killed training of the same rows and
    configuration resumes from the last one. Progress goes to ``progress`` ("fine-tuning", loss per step)."""
    import datasets
    from transformers.utils import logging as transformers_logging
    from trl import DPOConfig, DPOTrainer

    if not rows:
        raise TrainingError("no preference pairs to train on (run `recgpt seral pairs` first)")
    out = Path(out)
    key = {"rows": rows_hash(rows), "heldout": rows_hash(heldout or []),
           "config": config.model_dump(mode="json", exclude=NOT_IN_KEY), "base": base}
    manifest_path = out / MANIFEST
    if manifest_path.exists() and json.loads(manifest_path.read_text()).get("key") == key:
        return TrainingResult(out / "adapter", json.loads(manifest_path.read_text()))
    out.mkdir(parents=True, exist_ok=True)
    checkpoints = out / "checkpoints"
    resume = resumable_checkpoints(out, key, checkpoints)
    (out / IN_PROGRESS).write_text(json.dumps(key, indent=1))
    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()
    tokenizer, model, source = load_policy(config, base)
    train_data = datasets.Dataset.from_list(rows)
    held_data = datasets.Dataset.from_list(heldout) if heldout else None
    args = DPOConfig(
        output_dir=str(checkpoints), use_cpu=True, bf16=resolve_bf16(config.bf16), loss_type=["ipo"], beta=config.beta,
        max_steps=config.steps, per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size, learning_rate=config.lr, lr_scheduler_type="constant",
        max_length=config.max_length, logging_steps=1, save_strategy="steps",
        save_steps=config.checkpoint_every, save_total_limit=2, eval_strategy="no", report_to=[],
        disable_tqdm=True, seed=config.seed, data_seed=config.seed, dataloader_num_workers=0,
        activation_checkpointing=False,
    )
    trainer = DPOTrainer(model=model, args=args, train_dataset=train_data, eval_dataset=held_data,
                         processing_class=tokenizer,
                         callbacks=[reporter_callback(reporter(progress), config.steps)])
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    with completion_positions_only():
        probe = train_data.select(range(min(len(train_data), config.heldout_rows or len(train_data))))
        before = _losses(trainer, probe, held_data)
        start = time.perf_counter()
        resumed_from = max(int(c.name.split("-")[-1]) for c in checkpoints.glob("checkpoint-*")) if resume else 0
        trainer.train(resume_from_checkpoint=True if resume else None)
        seconds = time.perf_counter() - start
        after = _losses(trainer, probe, held_data)
    if any(v != v for v in after.values()):  # NaN
        raise TrainingError(f"the IPO loss became NaN ({after}); lower ipo.lr")
    folder = out / "adapter"
    if folder.exists():
        shutil.rmtree(folder)
    trainer.model.save_pretrained(folder)
    manifest = _manifest(key, config, source, trainer, rows, heldout, before, after, seconds, resumed_from)
    manifest_path.write_text(json.dumps(manifest, indent=1))
    (out / IN_PROGRESS).unlink()
    shutil.rmtree(checkpoints, ignore_errors=True)
    return TrainingResult(folder, manifest)


def _losses(trainer, train_data, held_data) -> dict[str, float]:
    """The IPO loss on (the first ``heldout_rows`` of) the training rows and on the held-out rows, as trl
    computes it, without training: four forward passes a row, so a large training set is only sampled."""
    out = {"train": float(trainer.evaluate(eval_dataset=train_data, metric_key_prefix="pairs")["pairs_loss"])}
    if held_data is not None:
        out["heldout"] = float(trainer.evaluate(eval_dataset=held_data, metric_key_prefix="held")["held_loss"])
    return out


def _manifest(key, config: IPOConfig, source, trainer, rows, heldout, before, after, seconds,
              resumed_from: int) -> dict[str, Any]:
    import peft
    import torch
    import transformers
    import trl

    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {"key": key, "method": "lora", "loss": "ipo", "base": source.identity, "base_path": str(source.path),
            "rows": {"train": len(rows), "heldout": len(heldout or [])},
            "metrics": {"steps": trainer.state.global_step, "loss_before": before, "loss_after": after,
                        "first_step_loss": losses[0] if losses else None,
                        "last_step_loss": losses[-1] if losses else None, "seconds": round(seconds, 1),
                        "resumed_from_step": resumed_from},
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "trl": trl.__version__, "peft": peft.__version__},
            "config": config.model_dump(mode="json")}
