"""Bad input to the custom loader: each case names file, line and field, or is a counted skip."""

from pathlib import Path

import pytest
import yaml

from recgpt.config import ConfigError
from recgpt.data.loaders import LoadError, SkipReport, load_custom

ITEMS = "item_id,title,category\na,Alpha,x\nb,Beta,y\n"
GOOD = ["u1,a,purchase,1700000000", "u2,b,cart,1700000100"]


def write(tmp_path: Path, events_lines, on_error="raise", events_file="events.csv", extra=None) -> Path:
    (tmp_path / "items.csv").write_text(ITEMS)
    if events_file.endswith(".csv"):
        (tmp_path / events_file).write_text("user_id,item_id,behavior,timestamp\n" + "\n".join(events_lines) + "\n")
    else:
        (tmp_path / events_file).write_text("\n".join(events_lines) + "\n")
    mapping = {"on_error": on_error, "items": {"file": "items.csv"}, "events": {"file": events_file}}
    for key, value in (extra or {}).items():
        mapping[key].update(value)
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return path


CASES = [
    (GOOD + ["u3,a,purchase,1700000200,oops"], 4, None, "3 fields|5 fields, the header has 4"),
    (GOOD + ["u3,a,like,1700000200"], 4, "behavior", "unknown behavior 'like'"),
    (GOOD + ["u3,a,cart,yesterday"], 4, "timestamp", "cannot parse timestamp 'yesterday'"),
    (GOOD + ["u3,zz,cart,1700000200"], 4, "item_id", "item_id 'zz' is not in the item catalog"),
    (GOOD + ["u3,,cart,1700000200"], 4, "item_id", "empty value"),
]


@pytest.mark.parametrize("lines, line, field, message", CASES)
def test_bad_row_raises_with_file_line_field(tmp_path, lines, line, field, message):
    with pytest.raises(LoadError, match=message) as info:
        load_custom(write(tmp_path, lines))
    err = info.value
    assert err.file.endswith("events.csv") and err.line == line and err.field == field
    assert str(err).startswith(f"{err.file}:{line}: ")


@pytest.mark.parametrize("lines, line, field, message", CASES)
def test_bad_row_is_skipped_and_counted(tmp_path, lines, line, field, message):
    report = SkipReport()
    ds = load_custom(write(tmp_path, lines, on_error="skip"), report=report)
    assert ds.events.num_rows == 2 and report.total == 1
    assert f"events.csv:{line}" in report.lines()[0]


def test_skip_counts_every_bad_row(tmp_path):
    lines = GOOD + ["u3,a,like,1", "u4,zz,cart,2", "u5,a,cart,never", "u6,b,cart", "u7,b,favorite,3"]
    report = SkipReport()
    ds = load_custom(write(tmp_path, lines, on_error="skip"), report=report)
    assert ds.events.num_rows == 3 and report.total == 4
    assert len(report.lines()) == 4


def test_missing_column(tmp_path):
    path = write(tmp_path, GOOD, extra={"events": {"columns": {"timestamp": "ts"}}})
    with pytest.raises(LoadError, match=r"events.csv:1: field 'ts': missing column"):
        load_custom(path)


def test_malformed_json_line_and_missing_key(tmp_path):
    lines = ['{"user_id": "u1", "item_id": "a", "behavior": "cart", "timestamp": 1}', '{"user_id": "u2", "item_id": ']
    with pytest.raises(LoadError, match=r"events.jsonl:2: invalid JSON"):
        load_custom(write(tmp_path, lines, events_file="events.jsonl"))
    lines = ['{"user_id": "u1", "item_id": "a", "behavior": "cart", "timestamp": 1}', '{"user_id": "u2", "item_id": "a", "behavior": "cart"}']
    with pytest.raises(LoadError, match=r"events.jsonl:2: field 'timestamp': empty value"):
        load_custom(write(tmp_path, lines, events_file="events.jsonl"))


def test_duplicate_item_and_missing_file(tmp_path):
    path = write(tmp_path, GOOD)
    (tmp_path / "items.csv").write_text(ITEMS + "a,Again,x\n")
    with pytest.raises(LoadError, match=r"items.csv:4: field 'item_id': duplicate id 'a'"):
        load_custom(path)
    (tmp_path / "items.csv").unlink()
    with pytest.raises(LoadError, match="items.csv: file not found"):
        load_custom(path)


def test_mapping_errors_name_the_key(tmp_path):
    path = write(tmp_path, GOOD, extra={"events": {"behaviors": {"like": "loved"}}})
    with pytest.raises(ConfigError, match="maps to 'loved'"):
        load_custom(path)
    path.write_text(path.read_text() + "colums: {}\n")
    with pytest.raises(ConfigError, match="colums: unknown key"):
        load_custom(path)


def test_strptime_format_and_unix_ms(tmp_path):
    path = write(tmp_path, ["u1,a,purchase,2024-02-03 04:05"], extra={"events": {"timestamp_format": "%Y-%m-%d %H:%M"}})
    assert load_custom(path).events.column("timestamp").to_pylist() == [1706933100]
    path = write(tmp_path, ["u1,a,purchase,1706933100123"], extra={"events": {"timestamp_format": "unix_ms"}})
    assert load_custom(path).events.column("timestamp").to_pylist() == [1706933100]


def test_taobao_bad_rows_name_line_and_field(tmp_path):
    from recgpt.data.loaders import load_taobao

    file = tmp_path / "UserBehavior.csv"
    file.write_text("1,10,100,pv,1511848894\n1,11,100,like,1511848895\n")
    with pytest.raises(LoadError, match=r"UserBehavior.csv:2: field 'behavior': unknown behavior 'like'"):
        load_taobao(tmp_path)
    file.write_text("1,10,100,pv,1511848894\n1,,100,pv,1511848895\n")
    with pytest.raises(LoadError, match=r"UserBehavior.csv:2: field 'item_id': empty value"):
        load_taobao(tmp_path)
    file.write_text("1,10,100,pv,1511848894\n1,10,100,pv,soon\n")
    with pytest.raises(LoadError, match=r"UserBehavior.csv:2: field 'timestamp': not unix seconds: 'soon'"):
        load_taobao(tmp_path)
