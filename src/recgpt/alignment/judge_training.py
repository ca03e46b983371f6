"""The trained judge (report 3): fine-tune the judge's model on the rebalanced human verdicts of the judge
buffer, measure its agreement with held-out human labels before and after (Table 9 form: accuracy, precision,
recall, F1 per task), and deploy it only when it is good enough.

    report = train_judge(run, buffer, alignment.judge_training, judge_llm, make_runtime)
    report["deployed"], report["before"], report["after"]

The labelled outputs are split whole (every criterion of one output on the same side), seeded, into a training
and a held-out part; the training part is rebalanced per (task, criterion) as ``recgpt judge export`` does
(minority augmentation, recency-prioritised downsampling) and rendered as one-criterion judge prompts with the
verdict as the completion (``RUN/judge/train.parquet``). The judge is fine-tuned into ``RUN/judge/model/``;
both the current judge and the trained one then answer the held-out prompts (through the run's LLM cache), and
``RUN/judge/deployed.json`` records both agreements and whether the trained judge is deployed: only when its
held-out accuracy reaches ``deploy_accuracy`` and is not below the current judge's.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from recgpt.alignment.config import JudgeTrainingConfig
from recgpt.alignment.records import TrainingSample, TrainingSet
from recgpt.judge.agreement import binary_metrics
from recgpt.judge.buffer import JudgeBuffer, Verdict
from recgpt.judge.config import RebalanceConfig
from recgpt.judge.export import judge_variables
from recgpt.judge.llm_judge import TEMPLATE, answer_schema, parse_verdicts
from recgpt.judge.rebalance import rebalance_all
from recgpt.judge.rubric import load_rubric
from recgpt.llm.base import as_messages
from recgpt.llm.prompts import PromptLibrary
from recgpt.llm.runtime import LLMRequest

BUILDER = "judge-training.v1"


def labelled(buffer: JudgeBuffer) -> list[Verdict]:
    """The latest human verdict per (task, output, criterion) of the rubric it was given under."""
    latest: dict[tuple[str, str, str], Verdict] = {}
    for v in buffer.verdicts(source="human"):
        if v.criterion in load_rubric(v.task, v.rubric_version).criterion_names:
            latest[(v.task, v.item_key, v.criterion)] = v
    return list(latest.values())


def split(verdicts: list[Verdict], heldout_share: float, seed: int) -> tuple[list[Verdict], list[Verdict]]:
    """(training, held-out) by a seeded hash of each output's key, so one output's criteria stay together."""
    def share(v: Verdict) -> float:
        return int(hashlib.sha1(f"{seed}:{v.task}:{v.item_key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    held = [v for v in verdicts if share(v) < heldout_share]
    return [v for v in verdicts if share(v) >= heldout_share], held


def training_set(verdicts: list[Verdict], rebalance: RebalanceConfig, prompts: PromptLibrary,
                 config: JudgeTrainingConfig, template_version: str | None = None,
                 system_prompt: str | None = None) -> TrainingSet:
    """The rebalanced training verdicts as one-criterion judge prompts, the verdict as the completion."""
    version = prompts.resolve(TEMPLATE, template_version)[0]
    samples = []
    sets = rebalance_all(verdicts, rebalance) if verdicts else []
    for balanced in sets:
        for v in balanced.samples:
            text = prompts.render(TEMPLATE, judge_variables(v, config.prompt_examples), version).text
            samples.append(TrainingSample(
                task="judge", messages=as_messages(text, system_prompt),
                completion=json.dumps({v.criterion: {"reason": v.reason or v.label, "verdict": v.label}},
                                      ensure_ascii=False),
                source="human", user_id="", provenance={"task": v.task, "criterion": v.criterion,
                                                        "item_key": v.item_key, "round": v.round}))
    return TrainingSet(samples, BUILDER, "judge", version, {"judge_training": config.model_dump(mode="json")},
                       {"verdicts": len(verdicts), "samples": len(samples)})


def agreement_on(verdicts: list[Verdict], runtime, config: JudgeTrainingConfig, max_tokens: int = 96,
                 template_version: str | None = None) -> dict[str, Any]:
    """The judge behind ``runtime`` against the human labels of ``verdicts``, one prompt per verdict: Table 9
    metrics per task and over all (``all``); an unparsable answer counts as a wrong verdict."""
    requests = []
    for n, v in enumerate(verdicts):
        rubric = load_rubric(v.task, v.rubric_version)
        requests.append(LLMRequest(key=f"judge-eval {n} {v.task} {v.item_key} {v.criterion}", task=TEMPLATE,
                                   variables=judge_variables(v, config.prompt_examples),
                                   schema=answer_schema(rubric, [v.criterion]), version=template_version,
                                   max_tokens=max_tokens))
    results = runtime.run_batch(requests, description="judge agreement")
    pairs: dict[str, list[tuple[bool, bool]]] = {}
    unparsed = 0
    for v, result in zip(verdicts, results):
        rubric = load_rubric(v.task, v.rubric_version)
        parsed = parse_verdicts(rubric, result.value if result.ok and result.value is not None else result.text)
        if v.criterion in parsed:
            judged = rubric.criterion(v.criterion).passes(parsed[v.criterion][0])
        else:
            unparsed += 1
            judged = not v.passed
        pairs.setdefault(v.task, []).append((v.passed, judged))
    out: dict[str, Any] = {}
    for task, got in sorted(pairs.items()):
        out[task] = binary_metrics([h for h, _ in got], [j for _, j in got]).__dict__
    every = [p for got in pairs.values() for p in got]
    out["all"] = binary_metrics([h for h, _ in every], [j for _, j in every]).__dict__ if every else {}
    out["unparsed"] = unparsed
    return out


def train_judge(run, buffer: JudgeBuffer, config: JudgeTrainingConfig, rebalance: RebalanceConfig, judge_llm,
                make_runtime: Callable[[Any], Any], base: str | None = None, train_fn=None,
                template_dirs: list[str] | None = None, template_version: str | None = None,
                progress=None) -> dict[str, Any]:
    """Split, build the set, measure the current judge, train, measure the trained one, decide; writes
    ``RUN/judge/train.parquet``, ``RUN/judge/model/`` and ``RUN/judge/deployed.json``. ``make_runtime(adapter)``
    gives the runtime of the judge with ``adapter`` (None: the current judge, ``judge_llm``)."""
    if train_fn is None:
        from recgpt.alignment.trainer import train as train_fn
    verdicts = labelled(buffer)
    train_part, heldout = split(verdicts, config.heldout_share, config.seed)
    if not train_part or not heldout:
        from recgpt.alignment.records import TrainingSetError

        raise TrainingSetError(f"{len(verdicts)} labelled verdicts give {len(train_part)} to train on and "
                               f"{len(heldout)} to hold out: label more outputs in the judge page")
    prompts = PromptLibrary(template_dirs)
    built = training_set(train_part, rebalance, prompts, config, template_version, judge_llm.system_prompt)
    built.write(run.judge_training_set)
    with make_runtime(None) as runtime:
        before = agreement_on(heldout, runtime, config, template_version=template_version)
    result = train_fn(built, run.judge_model, config.trainer, base, None, progress)
    with make_runtime(str(result.folder)) as runtime:
        after = agreement_on(heldout, runtime, config, template_version=template_version)
    accuracy_before, accuracy_after = before["all"]["accuracy"], after["all"]["accuracy"]
    deployed = accuracy_after >= config.deploy_accuracy and accuracy_after >= accuracy_before
    report = {"deployed": deployed, "adapter": str(result.folder) if deployed else None,
              "candidate": str(result.folder), "base": base, "heldout_verdicts": len(heldout),
              "training_samples": len(built.samples), "before": before, "after": after,
              "deploy_accuracy": config.deploy_accuracy, "prompt_examples": config.prompt_examples,
              "training": result.manifest.get("metrics", {}),
              "reason": (f"held-out accuracy {accuracy_after:.3f} (current judge {accuracy_before:.3f}); "
                         f"threshold {config.deploy_accuracy:g}")}
    previous = json.loads(run.judge_deployed.read_text()) if run.judge_deployed.exists() else None
    if not deployed and previous and previous.get("adapter"):
        report["kept"] = previous.get("adapter")  # the judge deployed before stays, asked as it was trained
        report["adapter"] = previous.get("adapter")
        report["prompt_examples"] = previous.get("prompt_examples", False)
    run.judge_deployed.parent.mkdir(parents=True, exist_ok=True)
    run.judge_deployed.write_text(json.dumps(report, indent=1))
    return report


def judge_runtime_factory(run, judge_llm) -> Callable[[Any], Any]:
    """The judge's runtime: ``judge_llm`` itself for the current judge, the torch engine with the adapter for a
    trained one (through the run's cache)."""
    from recgpt.llm.runtime import LLMRuntime

    def make(adapter):
        config = judge_llm if adapter is None else judge_llm.model_copy(
            update={"backend": "torch.v1", "temperature": 0.0}).with_options("torch", adapter=str(adapter))
        return LLMRuntime(config, cache_path=run.llm_cache, usage_path=run.llm_usage)

    return make
