"""Table 5's downstream half: retrieval with each model's tags on the same test users.

For every tag model (name -> its tag table, the rows the tag stage writes: ``user_id``, ``tag``,
``passed_checks``), the trained user-item-tag retriever ranks the whole catalog for the users that have
passing tags from every model, tags only (beta 0) and fused with the collaborative score (``beta``, the
fusion weight tuned on dev), and each list is scored against the user's held-out test item.
"""

from __future__ import annotations

from recgpt.retrieval.fusion import tags_by_user

def downstream_retrieval(model, dataset, tag_tables: dict, users: list[str], beta: float,
                         ks: list[int], k_main: int) -> dict:
    """{"users", "beta", "k", "<model> tags-only": metrics, "<model> fused": metrics} where metrics is
    :func:`recgpt.retrieval.evaluate.method_metrics` at ``ks`` (recall, ndcg, categories, long tail, ...).
    ``model``: the trained retriever (:func:`recgpt.retrieval.saved.load_model`); ``users``: test users; only those with passing tags from every model are ranked (``users`` in the
    result counts them; 0 and no metrics when there are none); ``k_main``: the cut-off the report shows."""
    from recgpt.data.catalog import Catalog
    from recgpt.retrieval.evaluate import method_metrics

    tags = {name: tags_by_user(table) for name, table in tag_tables.items()}
    held_out = dataset.targets("test")
    ranked_users = [u for u in users if u in held_out and all(tags[name].get(u) for name in tags)]
    out: dict = {"users": len(ranked_users), "beta": beta, "k": k_main}
    if not ranked_users:
        return out
    model.use_history(dataset, "test")
    catalog = Catalog.from_table(dataset.items)
    popularity = catalog.counts(dataset.events)
    targets = catalog.positions([held_out[u] for u in ranked_users], missing=-1)
    for name, user_tags in tags.items():
        for mode, mode_beta in (("tags-only", 0.0), ("fused", beta)):
            recs = model.recommend(ranked_users, max(ks), tags=user_tags, beta=mode_beta)
            out[f"{name} {mode}"] = method_metrics(recs.item_index, targets, catalog.category, popularity, list(ks))
    return out


def tuned_beta(model, dataset, tuning: dict | None, grid, k: int, tune_users: int | None,
               seed: int, criterion: str, tolerance: float) -> tuple[float, str]:
    """The fusion weight and where it came from: the run's own (``tuning``, the retrieve stage's
    ``eval/tuning.json``) when it has one, else tuned here on dev Recall@``k`` over ``grid`` with the
    catalog's item-title tags (as the retrieve stage does), so no test figure chooses it. ``model``: the trained
    retriever; tuning leaves its dev history visible."""
    if tuning and "beta_tuned" in tuning:
        return float(tuning["beta_tuned"]), "the run's retrieve stage (dev)"
    from recgpt.retrieval.quality import beta_curve, choose_beta

    curve = beta_curve(model, dataset, grid, k, max_users=tune_users, seed=seed)
    return choose_beta(curve, criterion, tolerance), f"tuned here on dev Recall@{k} ({criterion})"
