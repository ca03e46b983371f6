"""Tag evaluation: HR@K of the next interaction's category (report 2.2.2, Table 5), beside baselines.

Every method gives each user a ranked list of distinct categories; HR@K is the share of users whose
next item's category (the ``fold`` holdout target) is in the top K. A user with no list counts as a miss.

* ``llm_tags``: the categories phi gives the user's passed tags, most tags first (ties: first written);
* ``llm_tags_first_k``: the report's own reading: the categories of the first K tags written (so K tags,
  not K categories); shown with the mean number of distinct categories K tags give;
* ``llm_tags_all``: as ``llm_tags`` but with the tags the post-checks removed kept in;
* ``history``: the categories of the user's own history, most frequent first (ties: most recent), no LLM;
* ``popularity``: the categories most frequent in everyone's history (the same list for every user);
* ``history_then_popularity``: the history list filled up with the popular categories.

``mean_list`` (how many categories a method names on average) belongs beside HR: with 40 categories in
Amazon Office a list of 30 covers most of the catalog, so HR@30 is only meaningful against these rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa


@dataclass
class TagEvalReport:
    ks: list[int]
    n_users: int
    n_users_with_tags: int
    rows: dict[str, dict[str, float]] = field(default_factory=dict)  # method -> {"HR@5": .., "mean_list": ..}

    def as_markdown(self) -> str:
        head = "| method | " + " | ".join(f"HR@{k}" for k in self.ks) + " | mean categories named |"
        lines = [head, "|" + "---|" * (len(self.ks) + 2)]
        for method, row in self.rows.items():
            cells = " | ".join(f"{row[f'HR@{k}']:.3f}" for k in self.ks)
            lines.append(f"| {method} | {cells} | {row['mean_list']:.1f} |")
        return "\n".join(lines)


def rank_by_count(categories: list[str]) -> list[str]:
    """Distinct categories, most frequent first, ties broken by first occurrence."""
    counts = Counter(categories)
    first = {c: i for i, c in reversed(list(enumerate(categories)))}
    return sorted(counts, key=lambda c: (-counts[c], first[c]))


def history_ranking(categories_in_time_order: list[str]) -> list[str]:
    """Most frequent first, ties broken by the most recent interaction."""
    return rank_by_count(list(reversed(categories_in_time_order)))


def hit_rates(ranked: dict[str, list[str]], truth: dict[str, str], ks: list[int]) -> dict[str, float]:
    users = list(truth)
    row = {f"HR@{k}": sum(truth[u] in ranked.get(u, [])[:k] for u in users) / max(1, len(users)) for k in ks}
    row["mean_list"] = sum(len(ranked.get(u, [])) for u in users) / max(1, len(users))
    return row


def next_categories(dataset, users: list[str], fold: str) -> dict[str, str]:
    """user -> category of the user's ``fold`` holdout item."""
    category = dict(zip(dataset.items.column("item_id").to_pylist(), dataset.items.column("category").to_pylist()))
    held_out = dataset.targets(fold)
    return {u: category[held_out[u]] for u in users if u in held_out}


def evaluate_tags(tags: pa.Table, dataset, users: list[str], fold: str = "test", ks: list[int] | None = None) -> TagEvalReport:
    """HR@K table for ``users`` (those with a ``fold`` target); ``tags``: tags.parquet rows with category."""
    ks = ks or [5, 10, 30]
    truth = next_categories(dataset, users, fold)
    history = dataset.history(fold)
    category = dict(zip(dataset.items.column("item_id").to_pylist(), dataset.items.column("category").to_pylist()))
    hist_cats: dict[str, list[str]] = {}
    for u, i in zip(history.column("user_id").to_pylist(), history.column("item_id").to_pylist()):
        hist_cats.setdefault(u, []).append(category[i])
    popular = rank_by_count([c for cats in hist_cats.values() for c in cats])
    tag_rows = [r for r in tags.to_pylist() if r["user_id"] in truth and r.get("category")]
    passed: dict[str, list[str]] = {}
    everything: dict[str, list[str]] = {}
    for r in tag_rows:
        everything.setdefault(r["user_id"], []).append(r["category"])
        if r.get("passed_checks", True):
            passed.setdefault(r["user_id"], []).append(r["category"])
    report = TagEvalReport(ks, len(truth), sum(1 for u in truth if passed.get(u)))
    report.rows["llm_tags"] = hit_rates({u: rank_by_count(c) for u, c in passed.items()}, truth, ks)
    first_k = {f"HR@{k}": sum(truth[u] in set(passed.get(u, [])[:k]) for u in truth) / max(1, len(truth)) for k in ks}
    first_k["mean_list"] = sum(len(set(passed.get(u, [])[: max(ks)])) for u in truth) / max(1, len(truth))
    report.rows["llm_tags_first_k"] = first_k
    report.rows["llm_tags_all"] = hit_rates({u: rank_by_count(c) for u, c in everything.items()}, truth, ks)
    hist_rank = {u: history_ranking(hist_cats.get(u, [])) for u in truth}
    report.rows["history"] = hit_rates(hist_rank, truth, ks)
    report.rows["popularity"] = hit_rates({u: popular for u in truth}, truth, ks)
    filled = {u: hist_rank[u] + [c for c in popular if c not in hist_rank[u]] for u in truth}
    report.rows["history_then_popularity"] = hit_rates(filled, truth, ks)
    return report
