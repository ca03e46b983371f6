"""Judge rubrics: versioned YAML files that define each task's criteria (report Tables 1, 3 and 6).

Layout: ``rubrics/<task>/task.<version>.yaml`` names the task and lists its criteria in order;
``rubrics/<task>/<criterion>.<version>.yaml`` defines one criterion: its question, its labels (each with a
meaning), the labels that pass, and the report's examples. An output passes only when every criterion passes.
A criterion's scale is "binary" (yes/no), "three-level" (excellent/good/bad) or, for interest
reasonableness, the report's four correlation degrees (strong/weak/none/hallucination).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from recgpt.errors import UnknownNameError
from recgpt.errors import RecgptError
from recgpt.config import read_yaml_mapping
from recgpt.judge.config import AREA_TASKS, PURIFICATION_TASKS, TASKS

RUBRIC_DIR = Path(__file__).parent / "rubrics"
RULE_CRITERION = "rule_checks"
"""Name under which the cheap rule checks of a task are stored as one more criterion."""


class RubricError(RecgptError, ValueError):
    """A rubric file is missing or malformed; the message names the file and field."""


@dataclass(frozen=True)
class Label:
    name: str
    meaning: str


@dataclass(frozen=True)
class Example:
    output: dict[str, str]
    label: str
    why: str


@dataclass(frozen=True)
class Criterion:
    task: str
    name: str
    version: str
    scale: str
    question: str
    labels: tuple[Label, ...]
    pass_labels: frozenset[str]
    examples: tuple[Example, ...] = ()

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]

    def passes(self, label: str) -> bool:
        return label in self.pass_labels

    def normalize(self, raw: Any) -> str | None:
        """Map a model's or a person's answer onto one of the labels ("Yes." -> "yes"); None if no match."""
        if isinstance(raw, bool):
            raw = "yes" if raw else "no"
        text = str(raw or "").strip().strip(".!\"'` ").lower()
        if text in self.label_names:
            return text
        aliases = {"true": "yes", "pass": "yes", "false": "no", "fail": "no", "no correlation": "none",
                   "strong correlation": "strong", "weak correlation": "weak", "hallucinated": "hallucination"}
        text = aliases.get(text, text)
        if text in self.label_names:
            return text
        first = text.split()[0] if text.split() else ""
        return first if first in self.label_names else None


@dataclass(frozen=True)
class Rubric:
    task: str
    version: str
    title: str
    description: str
    criteria: tuple[Criterion, ...] = field(default_factory=tuple)

    def criterion(self, name: str) -> Criterion:
        for criterion in self.criteria:
            if criterion.name == name:
                return criterion
        raise UnknownNameError(f"task {self.task!r} has no criterion {name!r}; it has {self.criterion_names}")

    @property
    def criterion_names(self) -> list[str]:
        return [c.name for c in self.criteria]


def _read_yaml(path: Path) -> dict[str, Any]:
    return read_yaml_mapping(path, RubricError, "rubric file")


def _require(raw: dict[str, Any], key: str, path: Path) -> Any:
    if key not in raw or raw[key] in (None, ""):
        raise RubricError(f"{path}: missing field {key!r}")
    return raw[key]


def load_criterion(task: str, name: str, version: str, root: Path = RUBRIC_DIR) -> Criterion:
    path = root / task / f"{name}.{version}.yaml"
    raw = _read_yaml(path)
    labels = tuple(Label(str(_require(lab, "name", path)), str(lab.get("meaning", "")).strip())
                   for lab in _require(raw, "labels", path))
    names = {label.name for label in labels}
    pass_labels = frozenset(str(p) for p in _require(raw, "pass_labels", path))
    if not pass_labels <= names:
        raise RubricError(f"{path}: pass_labels {sorted(pass_labels - names)} are not among labels {sorted(names)}")
    examples = []
    for i, ex in enumerate(raw.get("examples") or []):
        if str(ex.get("label")) not in names:
            raise RubricError(f"{path}: examples[{i}].label {ex.get('label')!r} is not a label")
        examples.append(Example({k: str(v) for k, v in (ex.get("output") or {}).items()},
                                str(ex["label"]), str(ex.get("why", ""))))
    return Criterion(task=task, name=name, version=version, scale=str(_require(raw, "scale", path)),
                     question=str(_require(raw, "question", path)).strip(), labels=labels,
                     pass_labels=pass_labels, examples=tuple(examples))


@lru_cache(maxsize=32)
def load_rubric(task: str, version: str = "v1", root: Path = RUBRIC_DIR) -> Rubric:
    """The rubric of ``task`` at ``version`` (e.g. "v1"), with its criteria in the order the task file lists."""
    known = TASKS + PURIFICATION_TASKS + AREA_TASKS
    if task not in known:
        raise RubricError(f"unknown judge task {task!r}; known tasks: {', '.join(known)}")
    path = root / task / f"task.{version}.yaml"
    raw = _read_yaml(path)
    criteria = tuple(load_criterion(task, str(name), version, root) for name in _require(raw, "criteria", path))
    return Rubric(task=task, version=version, title=str(raw.get("title", task)),
                  description=str(_require(raw, "description", path)).strip(), criteria=criteria)


def rubric_for_prompt(rubric: Rubric, criteria: list[str] | None = None,
                      examples: bool = True) -> list[dict[str, Any]]:
    """Plain dicts for the judge prompt template (optionally only some criteria, without the examples)."""
    chosen = [c for c in rubric.criteria if criteria is None or c.name in criteria]
    return [{"name": c.name, "question": c.question, "scale": c.scale,
             "labels": [{"name": lab.name, "meaning": lab.meaning} for lab in c.labels],
             "pass_labels": sorted(c.pass_labels),
             "examples": [{"output": ex.output, "label": ex.label, "why": ex.why} for ex in c.examples]
             if examples else []}
            for c in chosen]
