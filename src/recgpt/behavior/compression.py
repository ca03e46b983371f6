"""Sequence-level hierarchical behavior compression (report 2.1.1), vectorised with polars.

Facts: reliable events and searches become ``(user, label, behavior, period, count)`` rows, where label is
the item's compressed text (or the search query), period the time partition (:mod:`.periods`) and count
how often that user did that behavior to that item in that period.

Dedupe semantics (explicit): with ``count_repeats`` (default) facts are a *multiset*: three purchases of
one item in one period render as ``purchase x3`` and parse back as three facts. With
``count_repeats: false`` they are a *set*: the repeat is kept once. ``parser.parse_compressed`` returns
exactly that multiset (or set) of ``(label, behavior, period)``.

Step 1 groups labels by (period, behavior); step 2 reverse-aggregates: labels with the same set of
(period, behavior, count) keys share one line::

    2021 (purchase x2), 2024-03 (cart, purchase) | Item A, Item B
    2024-05-02 (search) | red stapler, desk lamp

Lines are ordered by their latest period, oldest first. Fitting a token budget drops each user's oldest
partitions first (a binary search per user over how many to drop) and records what was dropped.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pyarrow as pa

from recgpt.behavior.extraction import extract_reliable
from recgpt.behavior.config import CompressionConfig
from recgpt.behavior.item_text import clean_text, item_texts
from recgpt.behavior.periods import add_periods, utc_date
from recgpt.behavior.tokens import TokenCounter, make_token_counter
from recgpt.progress import ProgressFn, reporter
from recgpt.data.schema import BEHAVIORS

SEARCH = "search"
BEHAVIOR_ORDER = {b: i for i, b in enumerate((*BEHAVIORS, SEARCH))}


def reference_date_of(events: pa.Table, searches: pa.Table | None, configured: date | None) -> date:
    """The configured reference date, else the UTC date of the latest event or search (1970-01-01 if none).

    ``compress_users`` passes the whole history (before extraction), so the data's last click counts too.
    """
    if configured is not None:
        return configured
    latest = [t.column("timestamp") for t in (events, searches) if t is not None and t.num_rows]
    if not latest:
        return date(1970, 1, 1)
    return utc_date(max(pl.from_arrow(c).max() for c in latest))


def build_facts(
    events: pa.Table, searches: pa.Table | None, labels: dict[str, str], reference: date,
    config: CompressionConfig,
) -> pl.DataFrame:
    """Reliable events and searches -> facts ``user_id, label, behavior, period, count, n_raw``.

    ``events`` must already hold only reliable behaviors and items present in ``labels``.
    """
    ev = pl.from_arrow(events.select(["user_id", "item_id", "behavior", "timestamp"]))
    ev = add_periods(ev, reference, config.day_window_days, config.month_window_days)
    ev = ev.group_by("user_id", "item_id", "behavior", "period").agg(pl.len().alias("n_raw"))
    label_frame = pl.DataFrame({"item_id": list(labels), "label": list(labels.values())})
    ev = ev.join(label_frame, on="item_id", how="left").drop("item_id")
    parts = [ev.select("user_id", "label", "behavior", "period", "n_raw")]
    if searches is not None and searches.num_rows:
        se = pl.from_arrow(searches.select(["user_id", "query", "timestamp"]))
        se = se.with_columns(
            pl.col("query").map_elements(clean_text, return_dtype=pl.String).alias("label"),
            pl.lit(SEARCH).alias("behavior"),
        ).filter(pl.col("label") != "")
        se = add_periods(se, reference, config.day_window_days, config.month_window_days)
        parts.append(se.group_by("user_id", "label", "behavior", "period").agg(pl.len().alias("n_raw")))
    facts = pl.concat(parts).with_columns(pl.col("n_raw").cast(pl.Int64))
    count = pl.col("n_raw") if config.count_repeats else pl.lit(1, dtype=pl.Int64)
    return facts.with_columns(count.alias("count"))


def render_facts(facts: pl.DataFrame) -> pl.DataFrame:
    """Facts -> ``user_id, text, n_lines`` (users without facts are absent). Deterministic."""
    if facts.height == 0:
        return pl.DataFrame(schema={"user_id": pl.String, "text": pl.String, "n_lines": pl.UInt32})
    order = pl.col("behavior").replace_strict(BEHAVIOR_ORDER, return_dtype=pl.Int32)
    token = pl.when(pl.col("count") > 1).then(
        pl.col("behavior") + " x" + pl.col("count").cast(pl.String)
    ).otherwise(pl.col("behavior"))
    step1 = (
        facts.with_columns(order.alias("__order"), token.alias("__token"))
        .group_by("user_id", "label", "period")
        .agg(pl.col("__token").sort_by("__order").str.join(", ").alias("__behaviors"))
        .with_columns((pl.col("period") + " (" + pl.col("__behaviors") + ")").alias("__entry"))
    )
    headers = step1.group_by("user_id", "label").agg(
        pl.col("__entry").sort_by("period").str.join(", ").alias("header"),
        pl.col("period").max().alias("__last"),
    )
    lines = headers.group_by("user_id", "header").agg(
        pl.col("label").sort().str.join(", ").alias("__items"), pl.col("__last").first()
    )
    lines = lines.with_columns((pl.col("header") + " | " + pl.col("__items")).alias("line"))
    return lines.group_by("user_id").agg(
        pl.col("line").sort_by(["__last", "line"]).str.join("\n").alias("text"),
        pl.len().alias("n_lines"),
    )


def _count_tokens(counter: TokenCounter, texts: list[str], progress: ProgressFn | None, what: str) -> list[int]:
    out: list[int] = []
    step = 2000
    for start in range(0, len(texts), step):
        out.extend(counter.count_many(texts[start:start + step]))
        reporter(progress)(what, min(start + step, len(texts)), len(texts))
    return out


def fit_budget(
    facts: pl.DataFrame, budget: int | None, counter: TokenCounter, progress: ProgressFn | None = None
) -> pl.DataFrame:
    """Render every user within ``budget`` tokens, dropping the oldest partitions first.

    Returns ``user_id, text, n_lines, n_tokens, dropped_partitions, dropped_events`` (users with facts).
    """
    rendered = render_facts(facts)
    rendered = rendered.with_columns(
        pl.Series("n_tokens", _count_tokens(counter, rendered["text"].to_list(), progress, "counting tokens"),
                  dtype=pl.Int64)
    )
    zero = [pl.lit(0, dtype=pl.Int64).alias("dropped_partitions"), pl.lit(0, dtype=pl.Int64).alias("dropped_events")]
    if budget is None:
        return rendered.with_columns(zero)
    over = rendered.filter(pl.col("n_tokens") > budget)["user_id"]
    if over.len() == 0:
        return rendered.with_columns(zero)
    ranked = facts.filter(pl.col("user_id").is_in(over.implode())).with_columns(
        (pl.col("period").rank("dense").over("user_id") - 1).cast(pl.Int64).alias("__rank")
    )
    # invariant per user: dropping `lo` partitions does not fit, dropping `hi` does (hi = all fits: empty)
    state = ranked.group_by("user_id").agg(pl.lit(0, dtype=pl.Int64).alias("lo"), (pl.col("__rank").max() + 1).alias("hi"))
    while True:
        open_ = state.filter(pl.col("hi") - pl.col("lo") > 1).with_columns(((pl.col("lo") + pl.col("hi")) // 2).alias("mid"))
        if open_.height == 0:
            break
        kept = ranked.join(open_.select("user_id", "mid"), on="user_id").filter(pl.col("__rank") >= pl.col("mid"))
        trial = render_facts(kept)
        tokens = dict(zip(trial["user_id"].to_list(), counter.count_many(trial["text"].to_list())))
        fits = [tokens.get(u, 0) <= budget for u in open_["user_id"].to_list()]
        open_ = open_.with_columns(pl.Series("fits", fits, dtype=pl.Boolean))
        state = state.join(open_.select("user_id", "mid", "fits"), on="user_id", how="left").with_columns(
            pl.when(pl.col("fits") == True).then(pl.col("mid")).otherwise(pl.col("hi")).alias("hi"),  # noqa: E712
            pl.when(pl.col("fits") == False).then(pl.col("mid")).otherwise(pl.col("lo")).alias("lo"),  # noqa: E712
        ).drop("mid", "fits")
        reporter(progress)("fitting token budget", int((state["hi"] - state["lo"] <= 1).sum()), state.height)
    ranked = ranked.join(state.select("user_id", "hi"), on="user_id")
    kept = ranked.filter(pl.col("__rank") >= pl.col("hi"))
    dropped = ranked.filter(pl.col("__rank") < pl.col("hi")).group_by("user_id").agg(
        pl.col("n_raw").sum().alias("dropped_events")
    )
    refit = render_facts(kept.drop("__rank", "hi"))
    refit = refit.with_columns(pl.Series("n_tokens", counter.count_many(refit["text"].to_list()), dtype=pl.Int64))
    refit = state.select("user_id", pl.col("hi").alias("dropped_partitions")).join(refit, on="user_id", how="left")
    refit = refit.join(dropped, on="user_id", how="left").with_columns(
        pl.col("text").fill_null(""), pl.col("n_lines").fill_null(0), pl.col("n_tokens").fill_null(0),
        pl.col("dropped_events").fill_null(0),
    )
    kept_users = rendered.filter(~pl.col("user_id").is_in(over.implode())).with_columns(zero)
    return pl.concat([kept_users, refit.select(kept_users.columns)], how="vertical_relaxed")


def compress_users(
    dataset, config: CompressionConfig | None = None, counter: TokenCounter | None = None,
    progress: ProgressFn | None = None,
) -> pa.Table:
    """Compress every user's reliable history into one text (report 2.1.1).

    Returns one row per user of ``dataset.users`` (and any user with events), sorted by user_id:
    ``user_id, text, n_events`` (reliable events + searches before the budget), ``n_facts, n_lines,
    n_tokens, dropped_partitions, dropped_events``. The reference date is in the schema metadata.
    """
    cfg = config or CompressionConfig()
    counter = counter or make_token_counter(cfg.tokenizer)
    history = dataset.history(None if cfg.fold == "all" else cfg.fold)
    events, searches = extract_reliable(history, dataset.searches, cfg.behaviors, cfg.include_searches)
    reference = reference_date_of(history, dataset.searches, cfg.reference_date)  # clicks count: data's end
    labels = item_texts(dataset.items, cfg.item_text)
    facts = build_facts(events, searches, labels, reference, cfg)
    stats = facts.group_by("user_id").agg(pl.col("n_raw").sum().alias("n_events"), pl.len().alias("n_facts"))
    fitted = fit_budget(facts, cfg.token_budget, counter, progress)
    users = pl.from_arrow(dataset.users.select(["user_id"]))
    users = pl.concat([users, stats.select("user_id")]).unique().sort("user_id")
    table = users.join(stats, on="user_id", how="left").join(fitted, on="user_id", how="left")
    table = table.select(
        "user_id",
        pl.col("text").fill_null(""),
        *[pl.col(c).fill_null(0).cast(pl.Int64) for c in
          ("n_events", "n_facts", "n_lines", "n_tokens", "dropped_partitions", "dropped_events")],
    ).to_arrow()
    meta = {"reference_date": reference.isoformat(), "tokenizer": counter.name, "config": cfg.model_dump_json()}
    return table.replace_schema_metadata(meta)


def naive_render(history: pl.DataFrame, labels: dict[str, str]) -> pl.DataFrame:
    """Baseline: one line per event, ``YYYY-MM-DD behavior item text``; -> ``user_id, text``."""
    label_frame = pl.DataFrame({"item_id": list(labels), "label": list(labels.values())})
    df = history.join(label_frame, on="item_id", how="left").sort("user_id", "timestamp")
    day = pl.from_epoch("timestamp", time_unit="s").dt.strftime("%Y-%m-%d")
    df = df.with_columns((day + " " + pl.col("behavior") + " " + pl.col("label")).alias("line"))
    return df.group_by("user_id", maintain_order=True).agg(pl.col("line").str.join("\n").alias("text"))
