"""Supervised fine-tuning of a stage model on a training set: trl's SFT trainer, LoRA (peft) or all weights,
on the CPU in bfloat16 autocast, loss on the completion only (the vocabulary projection too: ``sft_trainer``).

    result = train(TrainingSet.read(path), RUN / "alignment" / "tags-il", TrainerConfig())
    result.folder          # adapter/ (LoRA) or model/ (full), with manifest.json beside it

Early stopping on the set's held-out users (``split == "heldout"``) keeps the best checkpoint; checkpoints
every ``eval_every`` steps and every ``checkpoint_minutes`` let a killed training resume where it stopped (the
same call again). The output is an adapter folder (or a full model folder) and ``manifest.json``: the base
model and its hash, the training set's hash, the configuration and the measured figures. A finished folder is never retrained.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recgpt.alignment.config import TrainerConfig
from recgpt.alignment.records import TrainingSet, TrainingSetError
from recgpt.errors import RecgptError
from recgpt.hardware import resolve_bf16
from recgpt.progress import ProgressFn, reporter

log = logging.getLogger("recgpt.alignment")
MANIFEST = "manifest.json"
IN_PROGRESS = "in_progress.json"
#: Trainer settings that change how often work is saved, not what is trained.
NOT_IN_KEY = {"checkpoint_minutes", "threads"}  # how a training runs, not what it learns


class TrainingError(RecgptError):
    """A training that cannot go on: a NaN loss, a base model the adapter does not fit, no samples to train on."""


@dataclass
class TrainingResult:
    """What a training wrote: ``folder`` (the adapter or model), ``manifest`` (as saved)."""

    folder: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def adapter(self) -> Path | None:
        return self.folder if self.manifest.get("method") == "lora" else None


def set_hash(training_set: TrainingSet) -> str:
    """sha256 of the samples and of what the set was built with (order matters: it is the training order)."""
    digest = hashlib.sha256(json.dumps(training_set.meta, sort_keys=True).encode())
    for s in training_set.samples:
        digest.update(json.dumps([s.messages, s.completion, s.split, s.weight], ensure_ascii=False).encode())
    return digest.hexdigest()


def train(training_set: TrainingSet, out: str | Path, config: TrainerConfig, base: str | None = None,
          from_adapter: str | Path | None = None, progress: ProgressFn | None = None) -> TrainingResult:
    """Fine-tune ``base`` (None: the embedded SmolLM2; a .gguf file or a Hugging Face folder) on the set's
    training samples into ``out``; ``from_adapter`` continues an earlier LoRA adapter (incremental learning)."""
    from recgpt.llm.torch_model import resolve_source

    out = Path(out)
    source = resolve_source(base)
    key = {"set": set_hash(training_set), "config": config.model_dump(mode="json", exclude=NOT_IN_KEY),
           "base": source.identity, "from_adapter": _adapter_identity(from_adapter)}
    finished = _finished(out, key)
    if finished is not None:
        log.info("%s: already trained with this set and configuration", out)
        return finished
    train_rows, eval_rows = _rows(training_set, "train"), _rows(training_set, "heldout")
    if not train_rows:
        raise TrainingSetError(f"the training set has no training samples ({training_set.counts})")
    out.mkdir(parents=True, exist_ok=True)
    checkpoints = out / "checkpoints"
    resume = resumable_checkpoints(out, key, checkpoints)
    (out / IN_PROGRESS).write_text(json.dumps(key, indent=1))
    trainer, model, tokens = _trainer(source, from_adapter, config, train_rows, eval_rows, checkpoints, progress)
    resumed_from = 0
    if resume:
        resumed_from = max(int(c.name.split("-")[-1]) for c in checkpoints.glob("checkpoint-*"))
        log.info("resuming the training in %s from its checkpoint at step %d", checkpoints, resumed_from)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=True if resume else None)
    seconds = time.perf_counter() - start
    folder = out / ("adapter" if config.method == "lora" else "model")
    if folder.exists():
        shutil.rmtree(folder)
    trainer.model.save_pretrained(folder)
    if config.method == "full":
        trainer.processing_class.save_pretrained(folder)
    manifest = _manifest(key, config, source, trainer, training_set, tokens, seconds, resumed_from)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    (out / IN_PROGRESS).unlink()
    shutil.rmtree(checkpoints, ignore_errors=True)
    return TrainingResult(folder, manifest)


def _rows(training_set: TrainingSet, split: str) -> list[dict[str, Any]]:
    return [{"prompt": s.messages, "completion": [{"role": "assistant", "content": s.completion}]}
            for s in training_set.split(split)]


def _adapter_identity(adapter: str | Path | None) -> str | None:
    if adapter is None:
        return None
    from recgpt.llm.torch_model_files import adapter_hash

    return adapter_hash(Path(adapter))


def finished_result(out: str | Path) -> TrainingResult | None:
    """The finished training in ``out`` (its manifest and folder), or None when there is none."""
    path = Path(out) / MANIFEST
    if not path.exists():
        return None
    manifest = json.loads(path.read_text())
    return TrainingResult(Path(out) / ("adapter" if manifest["method"] == "lora" else "model"), manifest)


def _finished(out: Path, key: dict[str, Any]) -> TrainingResult | None:
    result = finished_result(out)
    return result if result is not None and result.manifest.get("key") == key else None


def resumable_checkpoints(out: Path, key: dict[str, Any], checkpoints: Path) -> bool:
    """True when ``checkpoints`` holds a checkpoint of this very training; other checkpoints are removed."""
    marker = out / IN_PROGRESS
    same = marker.exists() and json.loads(marker.read_text()) == key
    if not same and checkpoints.exists():
        log.warning("%s: checkpoints of another set or configuration, training afresh", checkpoints)
        shutil.rmtree(checkpoints)
    for partial in checkpoints.glob("checkpoint-*"):  # killed while saving: trainer_state.json is written last
        if not (partial / "trainer_state.json").is_file():
            log.warning("%s: a checkpoint cut off by a kill, removed", partial)
            shutil.rmtree(partial)
    return same and checkpoints.exists() and any(checkpoints.glob("checkpoint-*"))


def _trainer(source, from_adapter, config: TrainerConfig, train_rows, eval_rows, checkpoints: Path,
             progress: ProgressFn | None):
    """trl's SFTTrainer over the base model (LoRA-wrapped unless ``full``), with early stopping, the NaN guard
    and progress reporting; returns (trainer, model, training tokens per epoch)."""
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, EarlyStoppingCallback, PrinterCallback
    from transformers.utils import logging as transformers_logging
    from trl import SFTConfig

    from recgpt.alignment.sft_trainer import CompletionOnlySFTTrainer

    datasets.disable_progress_bars()  # our own progress reports stand for them
    transformers_logging.disable_progress_bar()
    Dataset = datasets.Dataset

    from recgpt.llm.torch_model_files import converted_gguf_folder

    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    folder = converted_gguf_folder(source.path, None) if source.kind == "gguf" else source.path
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    # float32 weights under bfloat16 autocast (``bf16``): on AMX-BF16 CPUs faster than bfloat16 weights
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    model = _trainable(model, source, from_adapter, config)
    train_data = _fitting(Dataset.from_list(train_rows), tokenizer, config.max_length)
    eval_data = _fitting(Dataset.from_list(eval_rows), tokenizer, config.max_length) if eval_rows else None
    steps_per_epoch = math.ceil(len(train_data) / (config.batch_size * config.grad_accum))
    total_steps = math.ceil(steps_per_epoch * config.epochs)
    args = SFTConfig(
        output_dir=str(checkpoints), use_cpu=True, bf16=resolve_bf16(config.bf16),
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, num_train_epochs=config.epochs, learning_rate=config.lr,
        lr_scheduler_type="linear", warmup_steps=max(1, steps_per_epoch // 20),
        logging_steps=max(1, min(5, total_steps // 4)), logging_first_step=True,  # a loss even for 3 steps
        eval_strategy="steps" if eval_data is not None else "no", eval_steps=config.eval_every,
        save_strategy="steps", save_steps=config.eval_every, save_total_limit=2,
        load_best_model_at_end=eval_data is not None, metric_for_best_model="eval_loss", greater_is_better=False,
        max_length=config.max_length, completion_only_loss=True, packing=False, seed=config.seed,
        data_seed=config.seed, report_to=[], disable_tqdm=True, dataloader_num_workers=0,
        save_only_model=False, remove_unused_columns=True, activation_checkpointing=False,
    )
    callbacks = [reporter_callback(reporter(progress), steps_per_epoch * config.epochs),
                 _timed_checkpoint_callback(config.checkpoint_minutes)]
    if eval_data is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.patience))
    trainer = CompletionOnlySFTTrainer(model=model, args=args, train_dataset=train_data, eval_dataset=eval_data,
                                       processing_class=tokenizer, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # it prints every log dict; ours reports them
    tokens = sum(len(row["input_ids"]) for row in trainer.train_dataset)
    callbacks[0].tokens_per_epoch = tokens
    return trainer, model, tokens


def _trainable(model, source, from_adapter, config: TrainerConfig):
    if config.method == "full":
        if from_adapter is not None:
            raise TrainingError("--from-adapter continues a LoRA adapter; set trainer.method: lora")
        return model
    from peft import LoraConfig, PeftModel, get_peft_model

    if from_adapter is not None:
        try:
            return PeftModel.from_pretrained(model, str(from_adapter), is_trainable=True)
        except (ValueError, RuntimeError, KeyError, OSError) as exc:
            raise TrainingError(f"adapter {from_adapter} does not fit the base model {source.identity}: "
                                f"{' '.join(str(exc).split())[:300]}") from exc
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def _fitting(data, tokenizer, max_length: int):
    """The rows whose prompt and completion fit ``max_length`` tokens (never train on a cut-off answer)."""
    def length(row) -> int:
        text = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    kept = data.filter(lambda row: length(row) <= max_length)
    if len(kept) < len(data):
        log.warning("left out %d of %d samples longer than %d tokens", len(data) - len(kept), len(data), max_length)
    if not len(kept):
        raise TrainingSetError(f"no sample fits trainer.max_length={max_length} tokens")
    return kept


def reporter_callback(progress: ProgressFn, total_steps: float):
    """A transformers TrainerCallback that reports progress (loss, held-out loss, tokens/s) and stops the
    training with a clear error when the loss stops being a number."""
    from transformers import TrainerCallback

    class Reporter(TrainerCallback):
        def __init__(self):
            self.total, self.tokens_per_epoch = int(math.ceil(total_steps)), 0
            self.start, self.last_loss, self.progress_info = time.perf_counter(), None, {}

        def on_train_begin(self, args, state, control, **kwargs):
            progress("fine-tuning", state.global_step, self.total)  # the clock of the bar's ETA starts here

        def on_step_end(self, args, state, control, **kwargs):
            progress("fine-tuning", state.global_step, self.total, **self.progress_info)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            loss = logs.get("loss")
            if loss is not None and not math.isfinite(loss):
                raise TrainingError(f"the training loss became {loss} at step {state.global_step}; lower trainer.lr")
            self.last_loss = float(loss) if loss is not None else self.last_loss
            seconds = time.perf_counter() - self.start
            info = {"loss": self.last_loss, "eval_loss": logs.get("eval_loss"),
                    "tok/s": self.tokens_per_epoch * (state.epoch or 0) / max(seconds, 1e-9)
                    if self.tokens_per_epoch else None}
            self.progress_info = {k: v for k, v in info.items() if v is not None}
            progress("fine-tuning", state.global_step, self.total, **self.progress_info)

    return Reporter()


def _timed_checkpoint_callback(minutes: float):
    """A transformers TrainerCallback that asks for a checkpoint at the end of the first step taken ``minutes``
    after the last one (0: never), beside the ones every ``eval_every`` steps."""
    from transformers import TrainerCallback

    class TimedCheckpoint(TrainerCallback):
        def __init__(self):
            self.last = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if minutes and time.perf_counter() - self.last >= minutes * 60:
                control.should_save = True

        def on_save(self, args, state, control, **kwargs):
            self.last = time.perf_counter()

    return TimedCheckpoint()


def _manifest(key, config: TrainerConfig, source, trainer, training_set: TrainingSet, tokens: int,
              seconds: float, resumed_from: int = 0) -> dict[str, Any]:
    import resource

    import peft
    import torch
    import transformers
    import trl

    state = trainer.state
    losses = [entry["loss"] for entry in state.log_history if "loss" in entry]
    evals = [entry["eval_loss"] for entry in state.log_history if "eval_loss" in entry]
    epochs = float(state.epoch or 0.0)
    trained_here = epochs * (state.global_step - resumed_from) / max(state.global_step, 1)  # after a resume
    return {
        "key": key, "method": config.method, "base": source.identity, "base_path": str(source.path),
        "task": training_set.task, "template_version": training_set.template_version,
        "builder": training_set.builder, "samples": {"train": len(training_set.split("train")),
                                                     "heldout": len(training_set.split("heldout"))},
        "metrics": {"steps": state.global_step, "epochs": round(epochs, 3),
                    "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
                    "best_eval_loss": min(evals) if evals else None, "seconds": round(seconds, 1),
                    "tokens_per_epoch": tokens, "tokens_per_s": round(tokens * trained_here / max(seconds, 1e-9), 1),
                    "resumed_from_step": resumed_from, "bf16_autocast": resolve_bf16(config.bf16),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
                     "peft": peft.__version__},
        "config": config.model_dump(mode="json"),
    }
