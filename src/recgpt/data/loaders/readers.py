"""Read a CSV, JSON Lines or Parquet file into a frame of the wanted columns plus ``__line``.

CSV and JSON Lines values arrive as strings (typed later by the loader); Parquet keeps its types.
Malformed lines (wrong field count, invalid JSON, a JSON value that is not an object) raise
:class:`LoadError` or, with ``on_error="skip"``, are counted in the :class:`SkipReport`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from recgpt.data.loaders.errors import LoadError, SkipReport

FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
           ".ndjson": "jsonl", ".json": "jsonl"}


def _malformed(file: Path, line: int, message: str, on_error: str, skips: SkipReport) -> None:
    error = LoadError(file, line, None, message)
    if on_error == "raise":
        raise error
    skips.add(error, "malformed line")


def _missing(file: Path, column: str, have: list[str]) -> LoadError:
    return LoadError(file, 1, column, f"missing column (the file has: {', '.join(map(str, have)) or 'none'})")


def _frame(columns: dict[str, list], lines: list[int]) -> pl.DataFrame:
    data = {name: pl.Series(name, values, dtype=pl.String) for name, values in columns.items()}
    return pl.DataFrame({**data, "__line": pl.Series("__line", lines, dtype=pl.Int64)})


def _read_csv(file, delimiter, wanted, on_error, skips) -> pl.DataFrame:
    with open(file, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise LoadError(file, 1, None, "empty file (no header line)") from None
        for column in wanted:
            if column not in header:
                raise _missing(file, column, header)
        positions = [header.index(c) for c in wanted]
        columns: dict[str, list] = {c: [] for c in wanted}
        lines: list[int] = []
        line = reader.line_num
        try:
            for row in reader:
                start, line = line + 1, reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    _malformed(file, start, f"{len(row)} fields, the header has {len(header)}", on_error, skips)
                    continue
                for c, p in zip(wanted, positions):
                    columns[c].append(row[p] if row[p] != "" else None)
                lines.append(start)
        except csv.Error as exc:
            raise LoadError(file, reader.line_num, None, f"malformed CSV: {exc}") from exc
    return _frame(columns, lines)


def _read_jsonl(file, wanted, needed, on_error, skips) -> pl.DataFrame:
    columns: dict[str, list] = {c: [] for c in wanted}
    lines: list[int] = []
    seen: set[str] = set()
    with open(file, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                _malformed(file, number, f"invalid JSON: {exc.msg}", on_error, skips)
                continue
            if not isinstance(record, dict):
                _malformed(file, number, "expected a JSON object", on_error, skips)
                continue
            seen.update(record)
            for c in wanted:
                value = record.get(c)
                if isinstance(value, (dict, list)):
                    value = json.dumps(value)
                columns[c].append(None if value is None or value == "" else str(value))
            lines.append(number)
    if lines:
        for column in needed:
            if column not in seen:
                raise _missing(file, column, sorted(seen))
    return _frame(columns, lines)


def _read_parquet(file, wanted) -> pl.DataFrame:
    have = pq.read_schema(file).names
    for column in wanted:
        if column not in have:
            raise _missing(file, column, have)
    df = pl.from_arrow(pq.read_table(file, columns=list(dict.fromkeys(wanted))))
    return df.with_columns(pl.int_range(1, df.height + 1, dtype=pl.Int64).alias("__line"))


def read_rows(file: Path, fmt: str | None, delimiter: str, wanted: list[str], needed: list[str],
              on_error: str, skips: SkipReport) -> pl.DataFrame:
    """The ``wanted`` source columns of ``file`` plus ``__line`` (1-based line or row number)."""
    if not file.exists():
        raise LoadError(file, None, None, "file not found")
    fmt = fmt or FORMATS.get(file.suffix.lower())
    if fmt is None:
        raise LoadError(file, None, None, f"unknown format {file.suffix!r}: set `format:` to csv, parquet or jsonl")
    wanted = list(dict.fromkeys(wanted))
    if fmt == "csv":
        return _read_csv(file, "\t" if file.suffix == ".tsv" and delimiter == "," else delimiter, wanted, on_error, skips)
    if fmt == "jsonl":
        return _read_jsonl(file, wanted, needed, on_error, skips)
    return _read_parquet(file, wanted)
