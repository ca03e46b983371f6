"""The report's Table 5 offline: how well a tag model's tags predict the category of a user's next interaction,
for the base model and tuned models on the same sampled test users, beside baselines that use no LLM.

    table = evaluate_tag_models(run, dataset, phi, tags_config, llm, {"base": None, "tuned": adapter}, users=200)
    table.rows["tuned"]["category"]["HR@30"], table.models["tuned"]["pass_rate"]

Every model answers the tag stage's own prompts (same template, same contexts, same interests: the user's mined
interests when the interest stage has run, else the interests of the user's most frequent history categories,
as the incremental-learning set completes them) through the torch engine, the tuned ones with their LoRA adapter.
Tags go through the stage's post-checks and phi, then HR@K is measured at two granularities:

* ``category``: the catalog's category of the next item (40 in Amazon Office, where HR@30 saturates: the
  popular categories alone reach about 1.0);
* ``leaf``: a finer product type with no taxonomy needed: the catalog's titles clustered into ``leaves``
  groups (k-means over their MiniLM embeddings, seeded); an item's leaf is its title's cluster, a tag's leaf
  the cluster whose centre is nearest to the tag's embedding.

A method ranks distinct classes (most tags first); ``history`` ranks the user's own history, ``popularity``
everyone's. Per model it also records what the issue of quality needs: share of calls answered with valid JSON
under the schema, share of tags passing the post-checks, distinct passed tags per user, generated tokens per
answer and seconds per user.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from recgpt.alignment.config import Table5Config
from recgpt.progress import ProgressFn, reporter
from recgpt.stages.tag_eval import hit_rates, history_ranking, rank_by_count

GRANULARITIES = ("category", "leaf")


@dataclass
class Table5:
    """HR@K per method and granularity (``rows[method][granularity]["HR@5"]``), the per-model answer quality
    (``models[name]``: valid_json, pass_rate, tags_per_user, tokens_per_answer, seconds_per_user) and what
    was evaluated (``users``, ``ks``, ``interests``: where the prompts' interests came from); ``downstream``:
    retrieval with each model's tags (:func:`recgpt.alignment.downstream.downstream_retrieval`), when run."""

    ks: list[int]
    users: int
    interests: dict[str, int] = field(default_factory=dict)
    rows: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    downstream: dict[str, Any] = field(default_factory=dict)

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def read(cls, path: str | Path) -> "Table5":
        return cls(**json.loads(Path(path).read_text()))

    def as_markdown(self) -> str:
        head = ["method"] + [f"{g} HR@{k}" for g in GRANULARITIES for k in self.ks]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for method, by_granularity in self.rows.items():
            cells = [f"{by_granularity[g][f'HR@{k}']:.3f}" for g in GRANULARITIES for k in self.ks]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", "| model | valid JSON | tags passing checks | passed tags per user | tokens per answer | "
                      "s per user |", "|---|---:|---:|---:|---:|---:|"]
        for name, m in self.models.items():
            lines.append(f"| {name} | {m['valid_json']:.3f} | {m['pass_rate']:.3f} | {m['tags_per_user']:.1f} | "
                         f"{m['tokens_per_answer']:.1f} | {m['seconds_per_user']:.2f} |")
        down = self.downstream
        if down.get("users"):
            k = down["k"]
            lines += ["", f"Retrieval on the {down['users']} users with passing tags from every model (fused at "
                          f"beta {down['beta']:g}):", "",
                      f"| tags from, retrieval | Recall@{k} | NDCG@{k} | categories@{k} | long tail@{k} |",
                      "|---|---:|---:|---:|---:|"]
            for name, m in down.items():
                if isinstance(m, dict):
                    lines.append(f"| {name} | {m[f'recall@{k}']:.4f} | {m[f'ndcg@{k}']:.4f} | "
                                 f"{m[f'categories@{k}']:.2f} | {m[f'long_tail@{k}']:.3f} |")
        return "\n".join(lines)


class Leaves:
    """Title clusters as leaf categories: ``Leaves.fit(titles, k)``; ``leaves.of(texts)`` -> cluster ids, each
    text to the nearest centre (cosine) of the L2-normalised embeddings ``embed`` gives."""

    def __init__(self, centres: np.ndarray, embed: Callable[[list[str]], np.ndarray]):
        self.centres, self.embed = centres, embed

    @classmethod
    def fit(cls, titles: list[str], k: int, seed: int = 0,
            embed: Callable[[list[str]], np.ndarray] | None = None) -> "Leaves":
        from sklearn.cluster import KMeans

        from recgpt.stages.postchecks import EmbeddingCache

        embed = embed or EmbeddingCache()
        vectors = embed(titles)
        k = max(1, min(k, len(set(titles))))
        centres = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(vectors).cluster_centers_
        centres /= np.linalg.norm(centres, axis=1, keepdims=True) + 1e-12
        return cls(centres.astype(np.float32), embed)

    def of(self, texts: list[str]) -> list[str]:
        if not texts:
            return []
        return [f"leaf {i}" for i in np.argmax(self.embed(texts) @ self.centres.T, axis=1)]


def eval_interests(run, dataset, phi, users: list[str], per_user: int) -> tuple[dict[str, list[str]], dict[str, int]]:
    """user -> interests for the tag prompts: the mined interests kept by the interest stage when it has run
    for the user, else the interests of the user's ``per_user`` most frequent history categories. The second
    value counts users by source."""
    import pyarrow.parquet as pq

    from recgpt.stages.interest_pool import category_interest
    from recgpt.stages.interests import kept_interests

    mined = kept_interests(pq.read_table(run.interests)) if run.interests.exists() else {}
    category = dict(zip(dataset.items.column("item_id").to_pylist(), dataset.items.column("category").to_pylist()))
    history = dataset.history("test")
    categories: dict[str, list[str]] = {}
    for u, i in zip(history.column("user_id").to_pylist(), history.column("item_id").to_pylist()):
        categories.setdefault(u, []).append(category[i])
    out, counts = {}, {"mined": 0, "history_categories": 0}
    for u in users:
        if mined.get(u):
            out[u] = mined[u][:per_user]
            counts["mined"] += 1
        else:
            out[u] = [category_interest(c) for c in history_ranking(categories.get(u, []))[:per_user]]
            counts["history_categories"] += 1
    return out, counts


def model_tags(run, dataset, phi, users: list[str], interests: dict[str, list[str]], tags_config, llm,
               adapter: str | Path | None, cache_path: Path, executor=None,
               vectors=None) -> tuple[pa.Table, dict[str, Any]]:
    """The tag table one model writes for ``users`` (the tag stage's prompts, post-checks and phi), and its
    answer-quality figures. ``executor`` (an ExecutorConfig; None: local) says where the calls run;
    ``vectors``: an EmbeddingCache to share (None: a new one)."""
    from recgpt.executors.base import create_executor
    from recgpt.llm.runtime import LLMRuntime
    from recgpt.stages.context import build_contexts
    from recgpt.stages.postchecks import EmbeddingCache
    from recgpt.stages.runner import compressed_table, popularity
    from recgpt.stages.tags import TAGS_SCHEMA, CatalogHints, predict_tags

    config = llm.model_copy(update={"backend": "torch.v1"}).with_options("torch", adapter=str(adapter) if adapter else None)
    contexts = build_contexts(dataset, users, "test", compressed_table(run), recent_days=tags_config.recent_days,
                              sequence_items=tags_config.sequence_items, current_date=tags_config.current_date)
    hints = CatalogHints(dataset.items, popularity(dataset, "test"), phi)
    brands = sorted({b for b in dataset.items.column("brand").to_pylist() if b})
    start = time.perf_counter()
    with LLMRuntime(config, cache_path=cache_path, executor=create_executor(executor)) as runtime:
        outcome = predict_tags(contexts, interests, runtime, tags_config, phi, brands, vectors or EmbeddingCache(),
                               hints)
    table = outcome.table if outcome.table.num_rows else TAGS_SCHEMA.empty_table()
    return table, answer_quality(table, outcome.counts, outcome.usage, users, time.perf_counter() - start, adapter)


def answer_quality(table: pa.Table, counts: dict, usage: dict, users: list[str], seconds: float,
                   adapter: str | Path | None) -> dict[str, Any]:
    """A model's answer-quality figures from its tag table (one row per tag, ``passed_checks``), the stage
    outcome's ``counts`` (calls, failed_calls) and ``usage`` (completion_tokens), on ``users`` in ``seconds``."""
    calls = max(1, counts.get("calls", 0))
    passed = [r for r in table.to_pylist() if r["passed_checks"]]
    return {
        "valid_json": 1 - counts.get("failed_calls", 0) / calls,
        "pass_rate": len(passed) / max(1, table.num_rows),
        "tags_per_user": len({(r["user_id"], r["tag"].lower()) for r in passed}) / max(1, len(users)),
        "tokens_per_answer": usage.get("completion_tokens", 0) / calls,
        "seconds_per_user": seconds / max(1, len(users)),
        "calls": calls, "adapter": str(adapter) if adapter else None,
    }


def hit_table(tag_tables: dict[str, pa.Table], dataset, users: list[str], ks: list[int],
              leaves: Leaves) -> dict[str, dict[str, dict[str, float]]]:
    """HR@K per method (each tag table, then ``history`` and ``popularity``) at both granularities."""
    items = dataset.items.select(["item_id", "title", "category"]).to_pylist()
    classes = {"category": {r["item_id"]: r["category"] for r in items},
               "leaf": dict(zip([r["item_id"] for r in items], leaves.of([r["title"] for r in items])))}
    held_out = dataset.targets("test")
    targets = {u: held_out[u] for u in users if u in held_out}
    truth = {g: {u: classes[g][i] for u, i in targets.items()} for g in GRANULARITIES}
    history = dataset.history("test")
    seen: dict[str, dict[str, list[str]]] = {g: {} for g in GRANULARITIES}
    for u, i in zip(history.column("user_id").to_pylist(), history.column("item_id").to_pylist()):
        for g in GRANULARITIES:
            seen[g].setdefault(u, []).append(classes[g][i])
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for name, table in tag_tables.items():
        passed = [r for r in table.to_pylist() if r["passed_checks"] and r["category"] and r["user_id"] in targets]
        tag_leaves = leaves.of([r["tag"] for r in passed])
        ranked: dict[str, dict[str, list[str]]] = {g: {} for g in GRANULARITIES}
        for r, leaf in zip(passed, tag_leaves):
            ranked["category"].setdefault(r["user_id"], []).append(r["category"])
            ranked["leaf"].setdefault(r["user_id"], []).append(leaf)
        rows[name] = {g: hit_rates({u: rank_by_count(c) for u, c in ranked[g].items()}, truth[g], ks)
                      for g in GRANULARITIES}
    rows["history"] = {g: hit_rates({u: history_ranking(seen[g].get(u, [])) for u in truth[g]}, truth[g], ks)
                       for g in GRANULARITIES}
    popular = {g: rank_by_count([c for cs in seen[g].values() for c in cs]) for g in GRANULARITIES}
    rows["popularity"] = {g: hit_rates({u: popular[g] for u in truth[g]}, truth[g], ks) for g in GRANULARITIES}
    return rows


def evaluate_tag_models(run, dataset, phi, tags_config, llm, models: dict[str, str | Path | None],
                        users: list[str], config: Table5Config, cache_path: Path,
                        progress: ProgressFn | None = None, executor=None,
                        answered: dict[str, tuple[pa.Table, dict[str, Any]]] | None = None,
                        vectors=None) -> tuple[Table5, dict[str, pa.Table]]:
    """Table 5 for ``models`` (name -> LoRA adapter folder, None for the base model) on the test ``users``;
    also returns each model's tag table (for the downstream comparison). ``executor``: where the calls run
    (an ExecutorConfig; None: this process). ``answered``: name -> (tag table, :func:`answer_quality`) of a
    model whose tags for these users, asked with the same prompts, already exist (the pipeline's tags stage
    answers with the tuned model): it is not asked again. ``vectors``: the EmbeddingCache of the post-checks
    and the leaves, shared with the caller's (None: a new one)."""
    say = reporter(progress)
    chosen = list(users)
    interests, sources = eval_interests(run, dataset, phi, chosen, config.interests_per_user)
    tables, quality = {}, {}
    for n, (name, adapter) in enumerate(models.items(), 1):
        if answered and name in answered:
            tables[name], quality[name] = answered[name]
            continue
        say(f"Table 5: tags of the {name} model", n - 1, len(models))
        tables[name], quality[name] = model_tags(run, dataset, phi, chosen, interests, tags_config, llm, adapter,
                                                 cache_path, executor, vectors)
    titles = dataset.items.column("title").to_pylist()
    rows = hit_table(tables, dataset, chosen, config.ks, Leaves.fit(titles, config.leaves, config.seed, vectors))
    table = Table5(list(config.ks), len(chosen), sources, rows, quality)
    return table, tables
