"""Builders of the curriculum's preparatory subtasks (report Appendix C), from the catalog and the logs alone.

Every builder is registered in :data:`recgpt.registry.subtasks` (``title-keyinfo.v1``...) and has one
signature, ``builder(inputs, spec) -> TrainingSet``; the labels come from catalog fields and logged behavior,
never from an LLM:

- ``title-keyinfo.v1`` (foundation): title -> {brand, category, core}, core being the title's brand-free
  product words (the tag form, ``short_title``);
- ``title-category.v1`` (foundation): title -> category;
- ``query-category.v1`` (intermediate): search query -> category. Logged searches are labelled with the
  category of the user's next reliable behavior within ``window_days``; where the logs hold none (no reachable
  data set has queries), queries are synthesised from titles (brand-free first words) and marked
  ``synthetic`` in the provenance;
- ``query-item-relevance.v1`` (intermediate): (query, title) -> yes/no; a positive pairs a query with an item of
  its own category, a negative with an item of another category, half and half;
- ``what-to-buy.v1`` (intermediate): a user's last ``history`` reliable behaviors (titles and categories) ->
  the category of the next one, from the training fold only;
- ``stage-set.v1`` (advanced): a stage task's own training set from ``RUN/alignment/sets/<set>.parquet`` (the
  tag task's incremental-learning set, a teacher's distilled set); with ``required: true`` a missing tag set is
  built from the logs (``incremental.v1``), otherwise a missing set leaves the subtask empty, and the plan says so.

Every sample is rendered through the subtask's versioned template (``llm/templates/cur-*/v1.j2``).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

from recgpt.alignment.records import TrainingSample, TrainingSet
from recgpt.data.behaviors import DEFAULT_RELIABLE_BEHAVIORS
from recgpt.llm.base import as_messages
from recgpt.llm.prompts import PromptLibrary
from recgpt.stages.phi import short_title

DAY = 86400


@dataclass
class SubtaskSpec:
    """One declared subtask of a curriculum file."""

    name: str
    level: str
    builder: str
    depends_on: list[str] = field(default_factory=list)
    samples: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SubtaskInputs:
    """What builders read: the data set, the prompt library, the system prompt, the seed, the held-out share,
    and for ``stage-set.v1`` the run folder plus a function that builds a missing set (``build_set(name)``)."""

    dataset: Any
    prompts: PromptLibrary = field(default_factory=PromptLibrary)
    system_prompt: str | None = None
    seed: int = 0
    holdout_share: float = 0.1
    run: Any = None
    build_set: Callable[[str], TrainingSet] | None = None


class _Writer:
    """Renders a subtask's samples with its template; splits a seeded share into the held-out split."""

    def __init__(self, inputs: SubtaskInputs, spec: SubtaskSpec, template: str):
        self.inputs, self.spec, self.template = inputs, spec, template
        self.version = inputs.prompts.resolve(template)[0]
        self.rng = random.Random(f"{inputs.seed}:{spec.name}")
        self.samples: list[TrainingSample] = []

    def add(self, variables: dict[str, Any], answer: dict[str, Any], user_id: str = "",
            provenance: dict[str, Any] | None = None) -> None:
        text = self.inputs.prompts.render(self.template, variables, self.version).text
        self.samples.append(TrainingSample(
            task=self.spec.name, messages=as_messages(text, self.inputs.system_prompt),
            completion=json.dumps(answer, ensure_ascii=False), source="logs", user_id=user_id,
            provenance=provenance or {}))

    def done(self, counts: dict[str, int] | None = None) -> TrainingSet:
        samples = self.samples
        if self.spec.samples is not None and len(samples) > self.spec.samples:
            samples = self.rng.sample(samples, self.spec.samples)
        heldout = int(round(len(samples) * self.inputs.holdout_share)) if len(samples) > 4 else 0
        for sample in self.rng.sample(samples, heldout):
            sample.split = "heldout"
        return TrainingSet(samples, self.spec.builder, self.spec.name, self.version,
                           {"options": self.spec.options, "samples": self.spec.samples, "seed": self.inputs.seed},
                           {"built": len(self.samples), "kept": len(samples), "heldout": heldout, **(counts or {})})


def _items(dataset) -> list[dict[str, Any]]:
    return [r for r in dataset.items.to_pylist() if r["title"] and r["category"]]


def _query_of(item: dict[str, Any]) -> str:
    return short_title(item["title"], item["brand"], 3).lower()


def title_keyinfo(inputs: SubtaskInputs, spec: SubtaskSpec) -> TrainingSet:
    writer = _Writer(inputs, spec, "cur-keyinfo")
    for item in _items(inputs.dataset):
        core = short_title(item["title"], item["brand"], 4).lower()
        if core:
            writer.add({"title": item["title"]}, {"brand": item["brand"] or "none", "category": item["category"],
                                                  "core": core}, provenance={"item": item["item_id"]})
    return writer.done()


def title_category(inputs: SubtaskInputs, spec: SubtaskSpec) -> TrainingSet:
    writer = _Writer(inputs, spec, "cur-category")
    for item in _items(inputs.dataset):
        writer.add({"kind": "title", "text": item["title"]}, {"category": item["category"]},
                   provenance={"item": item["item_id"]})
    return writer.done()


def _logged_queries(dataset, window_days: float) -> list[tuple[str, str, str]]:
    """(user, query, category of the user's next reliable behavior within the window) from the logs."""
    category = {r["item_id"]: r["category"] for r in dataset.items.to_pylist()}
    reliable = set(map(str, DEFAULT_RELIABLE_BEHAVIORS))
    events: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for r in dataset.events.to_pylist():
        if r["behavior"] in reliable and category.get(r["item_id"]):
            events[r["user_id"]].append((r["timestamp"], category[r["item_id"]]))
    out = []
    for r in dataset.searches.to_pylist():
        after = sorted(e for e in events.get(r["user_id"], []) if 0 <= e[0] - r["timestamp"] <= window_days * DAY)
        if after and r["query"]:
            out.append((r["user_id"], r["query"], after[0][1]))
    return out


def _queries(inputs: SubtaskInputs, spec: SubtaskSpec) -> list[tuple[str, str, bool]]:
    """(query, category, synthetic) pairs: the logged ones, else ones synthesised from titles."""
    logged = [(q, c, False) for _, q, c in _logged_queries(inputs.dataset, spec.options.get("window_days", 1))]
    if logged and not spec.options.get("synthetic", False):
        return logged
    seen, out = set(), list(logged)
    for item in _items(inputs.dataset):
        query = _query_of(item)
        if len(query.split()) >= 2 and (query, item["category"]) not in seen:
            seen.add((query, item["category"]))
            out.append((query, item["category"], True))
    return out


def query_category(inputs: SubtaskInputs, spec: SubtaskSpec) -> TrainingSet:
    writer = _Writer(inputs, spec, "cur-category")
    queries = _queries(inputs, spec)
    for query, category, synthetic in queries:
        writer.add({"kind": "query", "text": query}, {"category": category}, provenance={"synthetic": synthetic})
    return writer.done({"synthetic_queries": sum(s for _, _, s in queries)})


def query_item_relevance(inputs: SubtaskInputs, spec: SubtaskSpec) -> TrainingSet:
    writer = _Writer(inputs, spec, "cur-relevance")
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in _items(inputs.dataset):
        by_category[item["category"]].append(item)
    categories = sorted(by_category)
    counts = {"positive": 0, "negative": 0}
    if len(categories) < 2:
        return writer.done(counts)
    for n, (query, category, synthetic) in enumerate(_queries(inputs, spec)):
        if category not in by_category:
            continue
        positive = n % 2 == 0
        pool = by_category[category] if positive else by_category[
            writer.rng.choice([c for c in categories if c != category])]
        item = writer.rng.choice(pool)
        writer.add({"query": query, "title": item["title"]}, {"relevant": "yes" if positive else "no"},
                   provenance={"item": item["item_id"], "query_category": category, "synthetic": synthetic})
        counts["positive" if positive else "negative"] += 1
    return writer.done(counts)


def what_to_buy(inputs: SubtaskInputs, spec: SubtaskSpec) -> TrainingSet:
    writer = _Writer(inputs, spec, "cur-next")
    items = {r["item_id"]: r for r in _items(inputs.dataset)}
    reliable = set(map(str, DEFAULT_RELIABLE_BEHAVIORS))
    history = int(spec.options.get("history", 8))
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in inputs.dataset.events.sort_by([("timestamp", "ascending")]).to_pylist():
        if r["behavior"] in reliable and r["item_id"] in items:
            events[r["user_id"]].append(r)
    for user in sorted(events):
        seq = events[user]
        for cut in range(1, len(seq)):
            shown = [f"{items[e['item_id']]['title']} ({items[e['item_id']]['category']})"
                     for e in seq[max(0, cut - history):cut]]
            writer.add({"history": shown}, {"category": items[seq[cut]["item_id"]]["category"]}, user_id=user,
                       provenance={"item": seq[cut]["item_id"], "cut_timestamp": seq[cut]["timestamp"]})
    return writer.done()


def stage_set(inputs: SubtaskInputs, spec: SubtaskSpec) -> TrainingSet:
    """A stage task's own set (advanced level), read from the run folder as it is."""
    from recgpt.alignment.records import TrainingSetError

    name = spec.options.get("set")
    if not name:
        raise TrainingSetError(f"curriculum subtask {spec.name}: stage-set.v1 needs options.set (a set name)")
    path = inputs.run.training_set(name) if inputs.run is not None else None
    if path is not None and path.exists():
        found = TrainingSet.read(path)
    elif spec.options.get("required") and inputs.build_set is not None:
        found = inputs.build_set(name)
    else:
        return TrainingSet([], spec.builder, spec.name, "", {"options": spec.options},
                           {"built": 0, "kept": 0, "missing_set": 1})
    samples = found.samples
    if spec.samples is not None and len(samples) > spec.samples:
        samples = random.Random(f"{inputs.seed}:{spec.name}").sample(samples, spec.samples)
    return TrainingSet(samples, found.builder, found.task, found.template_version,
                       {**found.config, "curriculum_options": spec.options},
                       {**found.counts, "kept": len(samples)})
