"""The trainer with the real embedded model, kept small: LoRA overfits a handful of samples so that the torch
engine, serving the adapter, answers a trained prompt with its trained completion; a killed training resumes
from its last checkpoint; bad sets are refused by name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from recgpt.alignment.config import TrainerConfig
from recgpt.alignment.records import TrainingSample, TrainingSet, TrainingSetError
from recgpt.alignment.trainer import MANIFEST, train
from recgpt.llm.base import DecodingParams

pytestmark = pytest.mark.llm

PAIRS = [("Which pen for a lefty?", '{"tags": [{"tag": "quick dry gel pens", "reason": "no smudge"}]}'),
         ("Which paper for a fountain pen?", '{"tags": [{"tag": "heavy ivory writing paper", "reason": "no bleed"}]}'),
         ("What to file receipts in?", '{"tags": [{"tag": "expanding accordion file folder", "reason": "tidy"}]}'),
         ("What to label shelves with?", '{"tags": [{"tag": "white laminated label tape", "reason": "lasts"}]}')]


def tiny_set(heldout: bool = False) -> TrainingSet:
    samples = [TrainingSample("tags", [{"role": "user", "content": q}], a, "logs", f"u{i}")
               for i, (q, a) in enumerate(PAIRS)]
    if heldout:
        samples.append(TrainingSample("tags", [{"role": "user", "content": "Which stapler?"}],
                                      '{"tags": [{"tag": "heavy duty stapler", "reason": "thick"}]}', "logs", "u9",
                                      split="heldout"))
    return TrainingSet(samples, "test.v1", "tags", "v1")


FAST = dict(method="lora", lora_r=8, lora_alpha=16, lora_dropout=0.0, lr=3e-3, batch_size=4, threads=1)


def test_lora_overfits_and_the_engine_serves_the_adapter(tmp_path):
    from recgpt.llm.torch_backend import TorchBackend

    reports = []
    result = train(tiny_set(heldout=True), tmp_path / "tuned", TrainerConfig(epochs=25, eval_every=50, **FAST),
                   progress=lambda task, done, total=None, **info: reports.append((task, done, total)))
    assert reports[0] == ("fine-tuning", 0, 25) and sorted({done for _, done, _ in reports}) == list(range(26))
    metrics = result.manifest["metrics"]
    assert result.adapter is not None and (result.adapter / "adapter_config.json").is_file()
    assert metrics["last_loss"] < metrics["first_loss"] / 4, metrics
    assert result.manifest["samples"] == {"train": 4, "heldout": 1}
    tuned = TorchBackend(adapter=result.adapter, dtype="float32", threads=1, batch_size=4)
    base = TorchBackend(dtype="float32", threads=1, batch_size=4)
    assert tuned.model_id != base.model_id and "+lora@" in tuned.model_id
    prompts = [[{"role": "user", "content": q}] for q, _ in PAIRS[:2]]
    params = [DecodingParams(max_tokens=40)] * 2
    answers = tuned.complete_batch(prompts, params, [None, None])
    assert [a.text for a in answers] == [a for _, a in PAIRS[:2]]
    assert [a.text for a in base.complete_batch(prompts, params, [None, None])] != [a for _, a in PAIRS[:2]]
    again = train(tiny_set(heldout=True), tmp_path / "tuned", TrainerConfig(epochs=25, eval_every=50, **FAST))
    assert again.manifest == result.manifest  # a finished training is reused, not retrained


def test_a_killed_training_resumes_from_its_last_checkpoint(tmp_path):
    path = tiny_set().write(tmp_path / "set.parquet")
    out = tmp_path / "tuned"
    # no step-count checkpoint before step 1000: the checkpoints come from the clock (one every 0.6 s)
    config = TrainerConfig(epochs=40, eval_every=1000, checkpoint_minutes=0.01, **FAST)
    script = (f"from recgpt.alignment.records import TrainingSet; from recgpt.alignment.trainer import train; "
              f"from recgpt.alignment.config import TrainerConfig; "
              f"train(TrainingSet.read({str(path)!r}), {str(out)!r}, TrainerConfig(**{config.model_dump()!r}))")
    child = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONWARNINGS": "ignore"})
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not any((out / "checkpoints").glob("checkpoint-*/trainer_state.json")):
            assert child.poll() is None, "the training ended before it could be killed"
            time.sleep(0.2)
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        child.kill()
    assert not (out / MANIFEST).exists()
    # how often work is saved is not part of the training's identity: the same training resumes without the clock
    result = train(TrainingSet.read(path), out, config.model_copy(update={"checkpoint_minutes": 0.0}))
    metrics = result.manifest["metrics"]
    assert metrics["resumed_from_step"] >= 1
    assert metrics["steps"] == 40  # one step an epoch: the resumed run finished the planned steps, no more
    assert not (out / "checkpoints").exists()


def test_sets_that_cannot_train_are_refused_by_name(tmp_path):
    only_heldout = TrainingSet([TrainingSample("tags", [{"role": "user", "content": "q"}], "{}", "logs", "u",
                                               split="heldout")], "test.v1", "tags", "v1")
    with pytest.raises(TrainingSetError, match="no training samples"):
        train(only_heldout, tmp_path / "a", TrainerConfig(**FAST))
    with pytest.raises(TrainingSetError, match="max_length=64"):
        long = TrainingSet([TrainingSample("tags", [{"role": "user", "content": "word " * 200}], "{}", "logs", "u")],
                           "test.v1", "tags", "v1")
        train(long, tmp_path / "b", TrainerConfig(max_length=64, **FAST))


def test_the_completion_only_head_gives_the_models_own_loss_on_the_completion():
    """The trainer projects only the completion positions onto the vocabulary; its loss must be exactly the
    causal LM's cross-entropy over the completion tokens (prompt and padding ignored), and train the adapter."""
    from collections import defaultdict
    from types import SimpleNamespace

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from recgpt.alignment.sft_trainer import CompletionOnlySFTTrainer
    from recgpt.llm.torch_model import resolve_source
    from recgpt.llm.torch_model_files import converted_gguf_folder

    folder = converted_gguf_folder(resolve_source(None).path, None)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    rows = [(tokenizer(q)["input_ids"], tokenizer(a)["input_ids"]) for q, a in PAIRS[:3]]
    width = max(len(p) + len(c) for p, c in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id or 0)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (prompt, completion) in enumerate(rows):
        n = len(prompt) + len(completion)
        ids[i, :n] = torch.tensor(prompt + completion)
        labels[i, len(prompt):n] = torch.tensor(completion)
        mask[i, :n] = 1
    inputs = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    stub = SimpleNamespace(args=SimpleNamespace(bf16=False), _metrics=defaultdict(lambda: defaultdict(list)))
    loss = CompletionOnlySFTTrainer.compute_loss(stub, model, inputs)
    with torch.no_grad():
        reference = model(**inputs).loss
    assert torch.isclose(loss, reference, rtol=1e-5), (loss.item(), reference.item())
    loss.backward()
    lora_grads = [p.grad for name, p in model.named_parameters() if "lora_B" in name]
    assert lora_grads and all(g is not None for g in lora_grads) and any(g.abs().sum() > 0 for g in lora_grads)
    assert 0 <= stub._metrics["train"]["mean_token_accuracy"][0] <= 1
