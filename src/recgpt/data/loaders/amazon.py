"""Amazon Office Products (2014, 5-core) with its leave-one-out split, from ``data/amazon-office``.

Mapping (see that folder's SOURCE.md):

* items: ``item_id`` = the data set's integer id as a string. ``Office.text`` holds, per ASIN,
  ``title + leaf category name + brand name`` joined by spaces; ``item_meta.csv`` gives integer ids
  ``i_category`` and ``i_brand`` but no names. :func:`recover_names` splits each text back into title,
  leaf category and brand (heuristics below). ``category`` is a name for ``i_category``; note that one
  ``i_category`` holds several leaf categories of the texts (id 1 holds "Basic", "Scientific", "Graphing",
  ...), so the category name lists its most frequent leaves ("Basic / Scientific / Graphing").
  ``attributes`` keeps ``asin``, ``category_id``, ``brand_id`` and ``leaf_category``. No prices.
* events: every ``train.csv`` row as behavior **purchase**. A 5-core Amazon review is written by the
  buyer, so each row records that the user bought the item; the report's "review" behavior means reading
  reviews (a deliberate click), a different act. Both are reliable behaviors, so the choice only changes
  the word the LLM reads. Pass ``behavior="review"`` to keep the literal source meaning.
* holdout: ``dev.csv`` rows as fold "dev", ``test.csv`` rows as fold "test", unchanged (one each per user:
  the leave-one-out split is kept exactly). The 99 sampled negatives are dropped: we rank all items.
* users: ids only. searches: none (the data set has no queries).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import polars as pl
import pyarrow as pa

from recgpt.data.dataset import Dataset
from recgpt.data.loaders.errors import LoadError, SkipReport

MAX_LEAF_WORDS = 4


def _common_suffix(texts: list[list[str]]) -> list[str]:
    out: list[str] = []
    for words in zip(*[t[::-1] for t in texts]):
        if any(w != words[0] for w in words):
            break
        out.append(words[0])
    return out[::-1]


def _ends_with(words: list[str], suffix: list[str]) -> bool:
    return bool(suffix) and len(words) > len(suffix) and words[-len(suffix):] == suffix


def recover_names(rows: list[tuple[int, int, int, str]]) -> dict[int, tuple[str, str, str | None]]:
    """Split each ``(item_id, category_id, brand_id, text)`` into ``(title, leaf_category, brand)``.

    1. Brand: the longest common word suffix of all texts of the brand, shortened to its longest suffix
       that also starts one of those texts (titles usually open with the brand: "Texas Instruments TI-30X
       ... Texas Instruments"). Brand id 0 means no brand.
    2. Leaf vocabulary per category id: word suffixes (1 to 4 words) of the brand-stripped texts that at
       least two different brands share. A title tail shared by one brand only is not a leaf.
    3. Brands not settled by step 1 (no title opens with them): the words after the rightmost known leaf
       in their common suffix.
    4. Leaf of an item: start from the last word of its brand-stripped text and extend leftwards while
       at least 60% (and two) of the category's items ending the same way share the preceding word
       ("Photo Scanners" -> "Flatbed & Photo Scanners"); the title is what precedes the leaf.
    """
    words = {i: t.split() for i, _, _, t in rows}
    by_brand: dict[int, list[int]] = defaultdict(list)
    for i, _, b, _ in rows:
        by_brand[b].append(i)
    brand_words: dict[int, list[str]] = {0: []}
    unsettled: dict[int, list[str]] = {}
    for b, items in by_brand.items():
        if b == 0:
            continue
        common = _common_suffix([words[i] for i in items])
        shortest = min(len(words[i]) for i in items)
        chosen = None
        for k in range(min(len(common), shortest - 2), 0, -1):
            cand = common[-k:]
            if any(words[i][:k] == cand for i in items):
                chosen = cand
                break
        if chosen is None:
            unsettled[b] = common
        else:
            brand_words[b] = chosen

    support: dict[int, dict[tuple[str, ...], set]] = defaultdict(lambda: defaultdict(set))
    for i, c, b, _ in rows:
        if b not in brand_words:
            continue
        rest = words[i][: len(words[i]) - len(brand_words[b])] if brand_words[b] else words[i]
        owner = (b, rest[0]) if b == 0 else b  # a missing brand: the first title word stands in
        for k in range(1, min(MAX_LEAF_WORDS, len(rest) - 1) + 1):
            support[c][tuple(rest[-k:])].add(owner)
    vocab = {c: {s for s, owners in sup.items() if len(owners) >= 2} for c, sup in support.items()}

    cats_of_brand: dict[int, set[int]] = defaultdict(set)
    for _, c, b, _ in rows:
        cats_of_brand[b].add(c)
    for b, common in unsettled.items():
        leaves = set().union(*(vocab.get(c, set()) for c in cats_of_brand[b]))
        cut = None
        for end in range(len(common) - 1, 0, -1):
            if any(tuple(common[max(0, end - k):end]) in leaves for k in range(1, MAX_LEAF_WORDS + 1)):
                cut = end
                break
        brand_words[b] = common[cut:] if cut is not None else common[-1:]

    rests = {}
    for i, c, b, _ in rows:
        w, bw = words[i], brand_words[b]
        rests[i] = w[: len(w) - len(bw)] if _ends_with(w, bw) else w
    before: dict[tuple[int, tuple[str, ...]], Counter] = defaultdict(Counter)
    for i, c, _, _ in rows:
        rest = rests[i]
        for k in range(1, min(MAX_LEAF_WORDS, len(rest) - 1) + 1):
            before[(c, tuple(rest[-k:]))][rest[-k - 1] if len(rest) > k else None] += 1
    out = {}
    for i, c, b, _ in rows:
        rest = rests[i]
        leaf = rest[-1:]
        while len(leaf) < MAX_LEAF_WORDS and len(rest) > len(leaf) + 1:
            counter = before[(c, tuple(leaf))]
            word, n = counter.most_common(1)[0]
            # a leaf continues leftwards while most items sharing it share the preceding word too
            if word != rest[-len(leaf) - 1] or n < 2 or n < 0.6 * sum(counter.values()):
                break
            leaf = rest[-len(leaf) - 1:]
        title = rest[: len(rest) - len(leaf)] or rest
        out[i] = (" ".join(title), " ".join(leaf), " ".join(brand_words[b]) or None)
    return out


def category_names(leaf_by_item: dict[int, str], category_by_item: dict[int, int]) -> dict[int, str]:
    """Name each category id by its most frequent leaves, covering half its items (at most 3 leaves)."""
    counts: dict[int, Counter] = defaultdict(Counter)
    for i, leaf in leaf_by_item.items():
        counts[category_by_item[i]][leaf] += 1
    names: dict[int, str] = {}
    for c, counter in counts.items():
        total, covered, chosen = sum(counter.values()), 0, []
        for leaf, n in counter.most_common(3):
            chosen.append(leaf)
            covered += n
            if covered * 2 >= total:
                break
        names[c] = " / ".join(chosen)
    seen = Counter(names.values())
    return {c: (n if seen[n] == 1 else f"{n} ({c})") for c, n in names.items()}


def _read_tsv(path: Path, **kwargs) -> pl.DataFrame:
    if not path.exists():
        raise LoadError(path, None, None, "file not found")
    try:
        return pl.read_csv(path, separator="\t", quote_char=None, **kwargs)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise LoadError(path, None, None, f"cannot parse: {exc}") from exc


def _interactions(path: Path, behavior: str, fold: str | None) -> pa.Table:
    df = _read_tsv(path, columns=["user_id", "item_id", "time"], schema_overrides={"time": pl.Int64})
    df = df.select(
        pl.col("user_id").cast(pl.String),
        pl.col("item_id").cast(pl.String),
        pl.lit(behavior).alias("behavior"),
        pl.col("time").alias("timestamp"),
    )
    if fold is not None:
        df = df.with_columns(pl.lit(fold).alias("fold"))
    return df.to_arrow()


def load_amazon_office(path: str | Path = "data/amazon-office", behavior: str = "purchase") -> Dataset:
    """Load the bundled Amazon Office data set (see the module docstring for the mapping)."""
    root = Path(path)
    meta = _read_tsv(root / "item_meta.csv", columns=["item_id", "i_category", "i_brand"])
    texts = _read_tsv(root / "Office.text")
    index = _read_tsv(root / "Office.item2index", has_header=False, new_columns=["asin", "item_id"])
    joined = meta.join(index, on="item_id", how="left").join(texts, left_on="asin", right_on="id", how="left")
    missing = joined.filter(pl.col("text").is_null())
    if missing.height:
        raise LoadError(root / "Office.text", None, "text", f"no text for item {missing['item_id'][0]}")
    rows = joined.select("item_id", "i_category", "i_brand", "text").rows()
    names = recover_names(rows)
    leaf = {i: names[i][1] for i, *_ in rows}
    cat_of = {i: c for i, c, _, _ in rows}
    cat_name = category_names(leaf, cat_of)
    asin = dict(zip(joined["item_id"].to_list(), joined["asin"].to_list()))
    items = pa.table(
        {
            "item_id": [str(i) for i, *_ in rows],
            "title": [names[i][0] for i, *_ in rows],
            "category": [cat_name[c] for _, c, _, _ in rows],
            "brand": [names[i][2] for i, *_ in rows],
            "attributes": pa.array(
                [
                    [("asin", asin[i]), ("category_id", str(c)), ("brand_id", str(b)), ("leaf_category", leaf[i])]
                    for i, c, b, _ in rows
                ],
                type=pa.map_(pa.string(), pa.string()),
            ),
        }
    )
    events = _interactions(root / "train.csv", behavior, None)
    holdout = pa.concat_tables(
        [_interactions(root / "dev.csv", behavior, "dev"), _interactions(root / "test.csv", behavior, "test")]
    )
    user_ids = sorted(
        set(events.column("user_id").to_pylist()) | set(holdout.column("user_id").to_pylist()), key=int
    )
    users = pa.table({"user_id": user_ids})
    return Dataset("amazon-office", items=items, users=users, events=events, holdout=holdout).validate()


class AmazonOfficeLoader:
    """Amazon Office Products (2014, 5-core) with its own leave-one-out split; a copy is bundled."""

    default_path = "data/amazon-office"
    files = ("item_meta.csv", "Office.text", "Office.item2index", "train.csv", "dev.csv", "test.csv")

    def load(self, path: Path, report: SkipReport | None = None) -> Dataset:
        return load_amazon_office(path)

    def source_files(self, path: Path) -> list[Path]:
        return [Path(path) / name for name in self.files]
