"""The LLM stages over a run folder: the one orchestration that both the per-stage commands
(``recgpt interests|tags|explain|train-phi``) and ``recgpt run`` call.

Reads ``RUN/data`` (canonical tables) and, when present, ``RUN/behavior/compressed.parquet``; writes
``RUN/stages/interests.parquet`` (kept rows; ``interests_all.parquet`` every row with its verdict),
``RUN/stages/tags.parquet`` (every tag with ``passed_checks``), ``RUN/stages/explanations.sqlite`` and
``RUN/stages/<stage>_summary.json`` (counts, tokens, pass rate). LLM calls go through the runtime's cache
in ``RUN/llm/cache.sqlite``, so an interrupted stage resumes with only the missing calls. Running a stage
on a sample replaces that sample's rows and keeps the other users' rows, unless ``replace`` asks for a table
of exactly this sample (the pipeline's stages do).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recgpt.errors import MissingInputError
from recgpt.runfolder import RunFolder
from recgpt.stages.config import ExplanationsConfig, InterestsConfig, PhiConfig, TagsConfig
from recgpt.stages.context import build_contexts, sample_users
from recgpt.stages.outcome import StageOutcome
from recgpt.stages.postchecks import EmbeddingCache


def load_run_dataset(run: RunFolder):
    from recgpt.data.store import load_dataset

    if not run.table("items").exists():
        raise MissingInputError(f"{run.data}: no canonical tables here (run `recgpt data load` or `recgpt run` first)")
    return load_dataset(run.data)


def compressed_table(run: RunFolder) -> pa.Table | None:
    return pq.read_table(run.compressed) if run.compressed.exists() else None


def popularity(dataset, fold: str | None) -> dict[str, int]:
    """Item id -> how often it occurs in the history visible for ``fold``."""
    from recgpt.data.catalog import Catalog

    return Catalog.from_table(dataset.items).count_by_id(dataset.history(fold))


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def merge_by_user(path: Path, table: pa.Table, users: list[str]) -> pa.Table:
    """``table`` plus the rows of the existing file at ``path`` whose user is not in ``users``."""
    if path.exists():
        old = pq.read_table(path)
        if old.schema.names == table.schema.names:
            keep = old.filter(pc.invert(pc.is_in(old.column("user_id"), value_set=pa.array(users, pa.string()))))
            table = pa.concat_tables([keep.cast(table.schema), table])
    return table


def ensure_phi(run: RunFolder, dataset, config: PhiConfig | None = None, retrain: bool = False):
    """phi from ``RUN/phi``, trained on the catalog's titles and saved there when missing (or ``retrain``)."""
    from recgpt.stages.phi import TagToCategory

    if not retrain and (run.phi / "phi.json").exists():
        return TagToCategory.load(run.phi)
    items = dataset.items
    phi = TagToCategory(config or PhiConfig()).fit(
        items.column("title").to_pylist(), items.column("category").to_pylist(), items.column("brand").to_pylist()
    )
    phi.save(run.phi)
    return phi


def run_interests(run: RunFolder, dataset, runtime, config: InterestsConfig,
                  vectors: EmbeddingCache | None = None, replace: bool = False) -> StageOutcome:
    from recgpt.stages.interest_pool import InterestPool
    from recgpt.stages.interests import PUBLIC_COLUMNS, mine_interests

    if replace:
        _remove(run.interests, run.interests_all)
    vectors = vectors or EmbeddingCache()
    users = sample_users(dataset, config.sample_users, config.seed, config.fold)
    contexts = build_contexts(dataset, users, config.fold, compressed_table(run), history_lines=config.history_lines,
                              history_chars=config.history_chars)
    pool = InterestPool.from_catalog(dataset.items.column("category").to_pylist(), vectors)
    if config.mined_pool is not None:
        pool.add_mined(config.mined_pool)
    outcome = mine_interests(contexts, runtime, pool, config, vectors)
    run.stages.mkdir(parents=True, exist_ok=True)
    every = merge_by_user(run.interests_all, outcome.table, users)
    pq.write_table(every, run.interests_all)
    pq.write_table(every.filter(every.column("passed_checks")).select(PUBLIC_COLUMNS), run.interests)
    outcome.write_summary(run.stage_summary("interests"))
    return outcome


def run_tags(run: RunFolder, dataset, runtime, config: TagsConfig, phi=None,
             vectors: EmbeddingCache | None = None, replace: bool = False) -> StageOutcome:
    """LLM_IT for the sample's users that have interests; ``RUN/stages/tags.parquet`` always exists after it
    (an empty table of the right shape when no user had an interest)."""
    from recgpt.stages.interests import kept_interests
    from recgpt.stages.tags import TAGS_SCHEMA, CatalogHints, predict_tags

    if not run.interests.exists():
        raise MissingInputError(f"{run.interests}: no interests yet (run `recgpt interests --run {run.root}`)")
    if replace:
        _remove(run.tags)
    interests = kept_interests(pq.read_table(run.interests))
    users = [u for u in sample_users(dataset, config.sample_users, config.seed, config.fold) if u in interests]
    contexts = build_contexts(dataset, users, config.fold, compressed_table(run), recent_days=config.recent_days,
                              sequence_items=config.sequence_items, current_date=config.current_date)
    phi = phi or ensure_phi(run, dataset)
    hints = CatalogHints(dataset.items, popularity(dataset, config.fold), phi)
    brands = sorted({b for b in dataset.items.column("brand").to_pylist() if b})
    start = time.perf_counter()
    outcome = predict_tags(contexts, interests, runtime, config, phi, brands, vectors, hints=hints)
    outcome.usage["wall_seconds"] = time.perf_counter() - start
    table = outcome.table if outcome.table.num_rows else TAGS_SCHEMA.empty_table()
    pq.write_table(merge_by_user(run.tags, table, users), run.tags)
    outcome.write_summary(run.stage_summary("tags"))
    return outcome


def run_explanations(run: RunFolder, dataset, runtime, config: ExplanationsConfig,
                     recommended: dict[str, list[str]] | None = None, vectors: EmbeddingCache | None = None,
                     replace: bool = False, served: dict[str, list[str]] | None = None) -> StageOutcome:
    """Offline production (report 2.4.2) into the lookup table ``RUN/stages/explanations.sqlite``.

    With ``recommended`` (user -> the items the user is shown), each of those users' interests is paired with
    the user's own items that share a category with the interest's tags, plus an item-only explanation per
    shown item; without it, the sampled users' interests are paired with the most popular catalog items of
    their tags' categories. With ``config.production == "catalog"`` these pairs come first and
    :func:`~recgpt.stages.explanations.pair_catalog` adds those of every user with tags over ``served`` (user
    -> what the service shows; :func:`served_lists` when None), within ``config.max_pairs``."""
    from recgpt.stages.explanations import (
        ExplanationTable, pair_catalog, pair_interests_with_items, pair_user_items, produce_explanations,
    )

    if not run.tags.exists():
        raise MissingInputError(f"{run.tags}: no tags yet (run `recgpt tags --run {run.root}`)")
    if replace:
        _remove(run.explanations)
    users = sorted(recommended) if recommended is not None else sample_users(
        dataset, config.sample_users, config.seed, config.fold)
    every_tag = pq.read_table(run.tags)
    tags = every_tag.filter(pc.is_in(every_tag.column("user_id"), value_set=pa.array(users, pa.string())))
    counts = popularity(dataset, config.fold)
    if recommended is not None:
        pairs = pair_user_items(tags, recommended, dataset.items, counts, config)
    else:
        pairs = pair_interests_with_items(tags, dataset.items, counts, config)
    if config.production == "catalog":
        served = served if served is not None else served_lists(run, dataset, config.served_depth)
        pairs = pair_catalog(every_tag, served, dataset.items, config, first=pairs)
        users = sorted(set(users) | set(every_tag.column("user_id").to_pylist()))
    outcome = produce_explanations(pairs, dataset.items, runtime, config, reference_date(run, dataset, config),
                                   personal_terms(dataset, users))
    table = ExplanationTable(run.explanations, config.match_similarity, vectors)
    table.write(outcome.table)
    table.close()
    outcome.write_summary(run.stage_summary("explanations"))
    return outcome


def served_lists(run: RunFolder, dataset, depth: int) -> dict[str, list[str]]:
    """What ``recgpt serve`` shows every user of the run at k = ``depth``: the run's retriever over the whole
    visible history (fold None), at the beta tuned on dev (``RUN/eval/tuning.json``), with each user's passed
    LLM tags (item-title tags otherwise), history excluded. user -> item ids, best first."""
    import json

    from recgpt.retrieval.fusion import load_tag_table
    from recgpt.retrieval.saved import load_model

    model = load_model(run.retriever)
    model.use_history(dataset, None)
    tuning = json.loads(run.tuning.read_text()) if run.tuning.exists() else {}
    inner = getattr(model, "model", model)
    beta = float(tuning.get("beta_tuned", getattr(getattr(inner, "config", None), "beta", 1.0)))
    tags = load_tag_table(run.tags) if run.tags.exists() else {}
    users = sorted(set(dataset.users.column("user_id").to_pylist())
                   | set(dataset.history(None).column("user_id").to_pylist()))
    out: dict[str, list[str]] = {}
    for start in range(0, len(users), 2048):
        batch = users[start : start + 2048]
        recs = model.recommend(batch, depth, tags=tags, beta=beta)
        out.update({u: [i for i in row if i] for u, row in zip(batch, recs.item_ids)})
    return out


def reference_date(run: RunFolder, dataset, config) -> dt.date:
    """'Today' for explanations: the configured date, the compression's reference date, or the day after
    the latest visible event."""
    if config.current_date:
        return dt.date.fromisoformat(config.current_date)
    if run.compressed.exists():
        meta = pq.read_schema(run.compressed).metadata or {}
        if b"reference_date" in meta:
            return dt.date.fromisoformat(meta[b"reference_date"].decode())
    stamps = dataset.history(config.fold).column("timestamp")
    latest = pc.max(stamps).as_py() if len(stamps) else 0
    return dt.datetime.fromtimestamp(latest, tz=dt.timezone.utc).date() + dt.timedelta(days=1)


def personal_terms(dataset, users: list[str]) -> list[str]:
    """Locations and free attribute values of ``users``: an explanation must not repeat them."""
    table = dataset.users.filter(pc.is_in(dataset.users.column("user_id"), value_set=pa.array(users, pa.string())))
    terms = set()
    for row in table.to_pylist():
        if row.get("location"):
            terms.add(row["location"])
        terms.update(v for _, v in (row.get("attributes") or []) if v and not str(v).isdigit())
    return sorted(terms)
