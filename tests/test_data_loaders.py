"""Loaders of the two bundled data sets and of a user's own files (CSV, Parquet, JSON Lines)."""

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
import yaml

from recgpt.data.loaders import load_amazon_office, load_custom, load_source, load_taobao

ROOT = Path(__file__).resolve().parents[1]
AMAZON = ROOT / "data" / "amazon-office"
EXAMPLE = ROOT / "examples" / "custom" / "mapping.yaml"


@pytest.fixture(scope="module")
def amazon():
    return load_amazon_office(AMAZON)


def test_amazon_counts_and_mapping(amazon):
    assert amazon.summary() == {"items": 2420, "users": 4905, "events": 43448, "searches": 0, "holdout": 9810}
    assert set(amazon.events.column("behavior").to_pylist()) == {"purchase"}
    assert amazon.items.column("item_id").to_pylist()[:2] == ["170", "25"]  # integer ids as strings
    assert len(set(amazon.items.column("category").to_pylist())) == 40


def test_amazon_leave_one_out_split_kept_exactly(amazon):
    hold = pl.from_arrow(amazon.holdout)
    for fold in ("dev", "test"):
        source = pl.read_csv(AMAZON / f"{fold}.csv", separator="\t", columns=["user_id", "item_id", "time"])
        got = hold.filter(pl.col("fold") == fold).select("user_id", "item_id", "timestamp")
        expected = source.select(pl.col("user_id").cast(pl.String), pl.col("item_id").cast(pl.String),
                                 pl.col("time").alias("timestamp"))
        assert got.equals(expected)
    train = pl.read_csv(AMAZON / "train.csv", separator="\t")
    assert amazon.events.column("timestamp").to_pylist() == train["time"].to_list()
    assert amazon.history("test").num_rows == 43448 + 4905


def test_amazon_names_recovered_from_text(amazon):
    texts = dict(pl.read_csv(AMAZON / "Office.text", separator="\t", quote_char=None).iter_rows())
    rows = amazon.items.to_pylist()
    rebuilt = 0
    for row in rows:
        attrs = dict(row["attributes"])
        parts = [row["title"], attrs["leaf_category"], row["brand"] or ""]
        rebuilt += " ".join(p for p in parts if p) == texts[attrs["asin"]]
    assert rebuilt / len(rows) > 0.97  # title + leaf + brand gives back the source text
    by_asin = {dict(r["attributes"])["asin"]: r for r in rows}
    ti = by_asin["B00000JBLU"]  # "Texas Instruments TI-1795 SV Standard Function Calculator Basic Texas Instruments"
    assert ti["brand"] == "Texas Instruments" and ti["title"].startswith("Texas Instruments TI-1795")
    brands = {r["brand"] for r in rows}
    assert {"HP", "Canon", "Avery", "Fellowes", "Brother", "Epson"} <= brands


def test_taobao_behavior_mapping_and_item_text():
    ds = load_taobao(ROOT / "data" / "taobao-userbehavior-sample")
    assert ds.summary()["events"] == 10000 and ds.summary()["users"] == 114 and ds.summary()["items"] == 7623
    assert set(ds.events.column("behavior").to_pylist()) == {"click", "cart", "favorite", "purchase"}
    first = ds.events.slice(0, 3).to_pylist()
    assert [e["behavior"] for e in first] == ["click", "click", "cart"]
    item = ds.items.filter(pa.compute.equal(ds.items.column("item_id"), "2200475")).to_pylist()[0]
    assert item["title"] == "item 2200475" and item["category"] == "3607361"
    assert load_source("taobao", ROOT / "data" / "taobao-userbehavior-sample").summary() == ds.summary()


def _convert(tmp_path: Path, fmt: str) -> Path:
    """Copy the example data set with every table in ``fmt``; return the new mapping file."""
    src = EXAMPLE.parent
    mapping = yaml.safe_load(EXAMPLE.read_text())
    for key in ("items", "users", "events", "searches"):
        file = src / mapping[key]["file"]
        df = (pl.read_ndjson(file) if file.suffix == ".jsonl" else pl.read_csv(file, infer_schema=False))
        out = tmp_path / f"{key}.{fmt}"
        {"csv": df.write_csv, "parquet": df.write_parquet, "jsonl": df.write_ndjson}[fmt](out)
        mapping[key]["file"] = out.name
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_custom_formats_give_the_same_dataset(tmp_path, fmt):
    reference = load_custom(EXAMPLE)
    ds = load_custom(_convert(tmp_path, fmt))
    for name in ("items", "users", "events", "searches"):
        assert getattr(ds, name).equals(getattr(reference, name)), (fmt, name)
    assert reference.summary() == {"items": 5, "users": 3, "events": 9, "searches": 3, "holdout": 0}
    u2_lamp = [e for e in reference.events.to_pylist() if e["item_id"] == "A3"][0]
    assert u2_lamp == {"user_id": "u2", "item_id": "A3", "behavior": "favorite", "timestamp": 1699205400}
    assert dict(reference.items.to_pylist()[0]["attributes"]) == {"color": "black"}
