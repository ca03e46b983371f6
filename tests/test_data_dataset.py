"""Dataset: schema conformance, relational validation, history per fold, Parquet round trip."""

import pyarrow as pa
import pytest

from recgpt.data.dataset import DataValidationError, Dataset
from recgpt.data.store import load_dataset, save_dataset


def tiny(**overrides):
    tables = dict(
        items=pa.table({"item_id": ["a", "b", "c"], "title": ["A", "B", "C"], "category": ["x", "x", "y"]}),
        users=pa.table({"user_id": ["u1", "u2"]}),
        events=pa.table({"user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "a"],
                         "behavior": ["purchase", "cart", "favorite"], "timestamp": [30, 10, 20]}),
        holdout=pa.table({"user_id": ["u1", "u1"], "item_id": ["c", "a"], "behavior": ["purchase"] * 2,
                          "timestamp": [40, 50], "fold": ["dev", "test"]}),
    )
    tables.update(overrides)
    return Dataset("tiny", **tables)


def test_history_per_fold_sorted_by_user_then_time():
    ds = tiny().validate()
    dev = ds.history("dev")
    assert dev.column("timestamp").to_pylist() == [10, 30, 20]
    assert dev.schema.names == ["user_id", "item_id", "behavior", "timestamp"]
    test = ds.history("test")
    assert test.column("item_id").to_pylist() == ["b", "a", "c", "a"]
    assert ds.history(None).num_rows == 5
    with pytest.raises(ValueError):
        ds.history("train")


def test_missing_optional_columns_are_filled_and_required_ones_are_errors():
    ds = tiny()
    assert ds.items.column("brand").null_count == 3 and ds.searches.num_rows == 0
    with pytest.raises(DataValidationError, match="required column 'title'"):
        tiny(items=pa.table({"item_id": ["a"], "category": ["x"]}))


@pytest.mark.parametrize(
    "override, message",
    [
        ({"events": pa.table({"user_id": ["u1"], "item_id": ["zz"], "behavior": ["cart"], "timestamp": [1]})},
         "events: row 0: item_id 'zz' is not in the item catalog"),
        ({"events": pa.table({"user_id": ["u9"], "item_id": ["a"], "behavior": ["cart"], "timestamp": [1]})},
         "user_id 'u9' is not in the users table"),
        ({"events": pa.table({"user_id": ["u1"], "item_id": ["a"], "behavior": ["like"], "timestamp": [1]})},
         "behavior 'like' is not in the behavior vocabulary"),
        ({"users": pa.table({"user_id": ["u1", "u2", "u1"]})}, "user_id 'u1' occurs more than once"),
    ],
)
def test_validation_names_table_row_and_value(override, message):
    with pytest.raises(DataValidationError, match=message):
        tiny(**override).validate()


def test_store_round_trip(tmp_path):
    ds = tiny()
    save_dataset(ds, tmp_path / "data")
    back = load_dataset(tmp_path / "data")
    assert back.name == "tiny"
    for name in ("items", "users", "events", "searches", "holdout"):
        assert getattr(back, name).equals(getattr(ds, name)), name
    with pytest.raises(FileNotFoundError, match="recgpt data load"):
        load_dataset(tmp_path / "nothing")
