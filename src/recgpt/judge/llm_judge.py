"""The LLM judge: grades stage outputs by their task's rubric through the LLM runtime (report 3.1).

One call per output asks for every criterion of its task at once; the answer schema is built from the
rubric: ``{"<criterion>": {"reason": str, "verdict": one of the criterion's labels}, ...}``. Calls go
through :meth:`LLMRuntime.run_batch`, so they are batched, cached and resumable; verdicts already in the
buffer for the same judge model are not asked again. Rule checks run first; with
``skip_llm_on_rule_fail`` an output that fails them is not sent to the LLM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model, field_validator

from recgpt.judge.buffer import JudgeBuffer, Verdict
from recgpt.judge.config import JudgeConfig
from recgpt.judge.items import JudgeItem
from recgpt.judge.rubric import Criterion, Rubric, load_rubric, rubric_for_prompt
from recgpt.judge.rules import rule_result, rule_verdicts
from recgpt.llm.runtime import LLMRequest, LLMResult, LLMRuntime
from recgpt.llm.structured import StructuredOutputError, loads_lenient

TEMPLATE = "judge"
_SCHEMAS: dict[tuple, type[BaseModel]] = {}


def answer_schema(rubric: Rubric, criteria: list[str] | None = None, reason_chars: int = 120) -> type[BaseModel]:
    """The pydantic model of a judge answer for ``rubric`` (cached, so the runtime's schema cache hits)."""
    chosen = [c for c in rubric.criteria if criteria is None or c.name in criteria]
    key = (rubric.task, rubric.version, tuple(c.name for c in chosen), reason_chars)
    if key not in _SCHEMAS:
        fields: dict[str, Any] = {}
        for c in chosen:
            fields[c.name] = (_criterion_model(c, reason_chars), ...)
        _SCHEMAS[key] = create_model(f"{rubric.task.title()}Judgement", **fields)
    return _SCHEMAS[key]


def _criterion_model(criterion: Criterion, reason_chars: int) -> type[BaseModel]:
    labels = tuple(criterion.label_names)

    def _normalize(cls, value):  # "Yes." -> "yes", so a capitalised answer is not a failed call
        return criterion.normalize(value) or value

    return create_model(
        f"{criterion.task.title()}{criterion.name.title().replace('_', '')}Verdict",
        reason=(str, Field(max_length=reason_chars)),
        verdict=(Literal[labels], ...),  # type: ignore[valid-type]
        __validators__={"_norm": field_validator("verdict", mode="before")(_normalize)},
    )


def parse_verdicts(rubric: Rubric, answer: BaseModel | dict | str) -> dict[str, tuple[str, str]]:
    """criterion -> (label, reason) from a validated answer, a dict, or raw model text (lenient).

    Criteria whose verdict is missing or not one of the labels are left out.
    """
    if isinstance(answer, BaseModel):
        data: Any = answer.model_dump()
    elif isinstance(answer, str):
        try:
            data = loads_lenient(answer)
        except StructuredOutputError:
            return {}
    else:
        data = answer
    if not isinstance(data, dict):
        return {}
    lowered = {str(k).strip().lower(): v for k, v in data.items()}
    out = {}
    for criterion in rubric.criteria:
        entry = lowered.get(criterion.name)
        if isinstance(entry, dict):
            raw, reason = entry.get("verdict"), str(entry.get("reason") or "")
            if reason.strip().startswith("<") and reason.strip().endswith(">"):
                reason = ""  # a copied placeholder, not a reason
        else:
            raw, reason = entry, ""
        label = criterion.normalize(raw) if raw is not None else None
        if label is not None:
            out[criterion.name] = (label, reason.strip())
    return out


@dataclass
class JudgeRunStats:
    items: int = 0
    rule_failed: int = 0
    asked: int = 0
    already_judged: int = 0
    cached: int = 0
    failed_calls: int = 0
    verdicts: int = 0
    latency_s: float = 0.0
    errors: list[str] = field(default_factory=list)


class _Rubrics(dict):
    """task -> its rubric, loaded on first use (stage tasks and purification tasks alike)."""

    def __init__(self, version: str):
        super().__init__()
        self.version = version

    def __missing__(self, task: str) -> Rubric:
        self[task] = load_rubric(task, self.version)
        return self[task]


class LLMJudge:
    """``LLMJudge(config, runtime).grade(items, buffer)`` stores rule and LLM verdicts in ``buffer``."""

    def __init__(self, config: JudgeConfig, runtime: LLMRuntime):
        self.config = config
        self.runtime = runtime
        self.rubrics = _Rubrics(config.rubric_version)

    @property
    def name(self) -> str:
        """The judge's identity in the buffer: backend and model."""
        backend = self.runtime.backend
        return f"{backend.name}:{backend.model_id}"

    def request(self, item: JudgeItem, criteria: list[str] | None = None) -> LLMRequest:
        """The judge call for ``item``: every criterion at once, or only ``criteria``."""
        rubric = self.rubrics[item.task]
        variables = {"title": rubric.title, "description": rubric.description,
                     "criteria": rubric_for_prompt(rubric, criteria, examples=self.config.prompt_examples),
                     "context": item.context, "output": item.output}
        key = f"judge {item.task} {item.item_key}" + (f" {'+'.join(criteria)}" if criteria else "")
        return LLMRequest(key=key, task=TEMPLATE, variables=variables,
                          schema=answer_schema(rubric, criteria, reason_chars=self.config.reason_chars),
                          version=self.config.template_version, max_tokens=self.config.max_tokens)

    def requests(self, item: JudgeItem) -> list[LLMRequest]:
        """One call for every criterion, or with ``per_criterion`` one call per criterion (the form a judge
        fine-tuned by ``recgpt judge train`` was trained on)."""
        if not self.config.per_criterion:
            return [self.request(item)]
        return [self.request(item, [c]) for c in self.rubrics[item.task].criterion_names]

    def to_verdicts(self, item: JudgeItem, result: LLMResult, round: int) -> list[Verdict]:
        rubric = self.rubrics[item.task]
        parsed = parse_verdicts(rubric, result.value if result.ok and result.value is not None else result.text)
        return [Verdict(task=item.task, item_key=item.item_key, criterion=name, label=label,
                        passed=rubric.criterion(name).passes(label), source="llm", judge=self.name,
                        rubric_version=rubric.version, round=round, input=item.context, output=item.output,
                        reason=reason) for name, (label, reason) in parsed.items()]

    def grade(self, items: list[JudgeItem], buffer: JudgeBuffer, round: int = 1) -> JudgeRunStats:
        """Rule checks, then one LLM call per output still lacking this judge's verdicts; all into ``buffer``."""
        stats = JudgeRunStats(items=len(items))
        buffer.add(rule_verdicts(items, self.config.rubric_version, round))
        done = buffer.judged_keys("llm", judge=self.name)
        todo = []
        for item in items:
            rule = rule_result(item)
            if rule is not None and not rule[0]:
                stats.rule_failed += 1
                if self.config.skip_llm_on_rule_fail:
                    continue
            if all((item.task, item.item_key, c) in done for c in self.rubrics[item.task].criterion_names):
                stats.already_judged += 1
                continue
            todo.append(item)
        stats.asked = len(todo)
        if not todo:
            return stats
        size = self.config.chunk_size
        for start in range(0, len(todo), size):  # verdicts reach the buffer chunk by chunk
            chunk = todo[start:start + size]
            asked = [(item, request) for item in chunk for request in self.requests(item)]
            results = iter(self.runtime.run_batch([request for _, request in asked],
                                                  description=f"judging {start + len(chunk)}/{len(todo)}"))
            for item in chunk:
                verdicts, errors = [], []
                for _ in self.requests(item):
                    result = next(results)
                    stats.cached += int(result.cached)
                    stats.latency_s += result.latency_s
                    got = self.to_verdicts(item, result, round)
                    verdicts += got
                    if not got:
                        errors.append(result.error or "no verdict in the answer")
                if not verdicts:
                    stats.failed_calls += 1
                    stats.errors.append(f"{item.task} {item.item_key}: {errors[0]}")
                stats.verdicts += buffer.add(verdicts)
        return stats
