"""The canonical in-memory data set: five Arrow tables that follow :mod:`recgpt.data.schema`.

``events`` never holds the leave-one-out targets; those live in ``holdout`` with their fold, and
:meth:`Dataset.history` puts back the ones a given fold may see.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from recgpt.errors import RecgptError
from recgpt.data.schema import BEHAVIORS, EVENTS_SCHEMA, FOLDS, SCHEMAS


class DataValidationError(RecgptError, ValueError):
    """A table does not follow its canonical schema; the message names the table, column and row."""


def conform(table: pa.Table, name: str) -> pa.Table:
    """Return ``table`` with exactly the columns of schema ``name``, in order and cast to its types.

    Missing nullable columns are filled with nulls; a missing non-nullable column or a cast that loses
    information is a :class:`DataValidationError`.
    """
    schema = SCHEMAS[name]
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            if column.type != field.type:
                try:
                    column = column.cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise DataValidationError(
                        f"{name}: column {field.name!r} has type {column.type}, expected {field.type}: {exc}"
                    ) from exc
        elif field.nullable:
            column = pa.nulls(table.num_rows, field.type)
        else:
            raise DataValidationError(f"{name}: required column {field.name!r} is missing")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _first_row(mask: pa.ChunkedArray | pa.Array) -> int:
    return pc.index(mask, True).as_py()


@dataclass
class Dataset:
    """A data set in canonical form. Tables are conformed to their schemas on construction.

    name:     short name, e.g. "amazon-office"
    items:    one row per catalog item (ITEMS_SCHEMA)
    users:    one row per user (USERS_SCHEMA); users without events are allowed
    events:   user-item behaviors (EVENTS_SCHEMA), without the holdout rows
    searches: user search queries (SEARCHES_SCHEMA); may be empty
    holdout:  leave-one-out targets with their fold, "dev" or "test" (HOLDOUT_SCHEMA); may be empty
    """

    name: str
    items: pa.Table
    users: pa.Table
    events: pa.Table
    searches: pa.Table | None = None
    holdout: pa.Table | None = None

    def __post_init__(self) -> None:
        self.items = conform(self.items, "items")
        self.users = conform(self.users, "users")
        self.events = conform(self.events, "events")
        self.searches = conform(
            self.searches if self.searches is not None else SCHEMAS["searches"].empty_table(), "searches"
        )
        self.holdout = conform(
            self.holdout if self.holdout is not None else SCHEMAS["holdout"].empty_table(), "holdout"
        )

    def validate(self) -> "Dataset":
        """Check the relations between tables; raise :class:`DataValidationError` naming the first bad row."""
        for name in ("items", "users", "events", "searches", "holdout"):
            table: pa.Table = getattr(self, name)
            for field in SCHEMAS[name]:
                if not field.nullable and table.column(field.name).null_count:
                    row = _first_row(pc.is_null(table.column(field.name)))
                    raise DataValidationError(f"{name}: row {row}: column {field.name!r} is null")
        for name, key in (("items", "item_id"), ("users", "user_id")):
            table = getattr(self, name)
            if pc.count_distinct(table.column(key)).as_py() != table.num_rows:
                counts = pc.value_counts(table.column(key))
                dup = counts.filter(pc.greater(counts.field("counts"), 1))[0]["values"].as_py()
                raise DataValidationError(f"{name}: {key} {dup!r} occurs more than once")
        item_ids, user_ids = self.items.column("item_id"), self.users.column("user_id")
        for name in ("events", "holdout"):
            table = getattr(self, name)
            self._check_in(table, name, "item_id", item_ids, "the item catalog")
            self._check_in(table, name, "user_id", user_ids, "the users table")
            self._check_in(table, name, "behavior", pa.array(BEHAVIORS), "the behavior vocabulary")
        self._check_in(self.searches, "searches", "user_id", user_ids, "the users table")
        self._check_in(self.holdout, "holdout", "fold", pa.array(FOLDS), "the folds (dev, test)")
        return self

    @staticmethod
    def _check_in(table: pa.Table, name: str, column: str, allowed, what: str) -> None:
        bad = pc.invert(pc.is_in(table.column(column), value_set=pa.array(allowed)))
        if table.num_rows and pc.any(bad).as_py():
            row = _first_row(bad)
            value = table.column(column)[row].as_py()
            raise DataValidationError(f"{name}: row {row}: {column} {value!r} is not in {what}")

    def history(self, fold: str | None) -> pa.Table:
        """Events visible when predicting ``fold``, in EVENTS_SCHEMA, sorted by user then time.

        "dev": ``events``; "test": ``events`` plus the dev holdout rows; None: events plus all holdout rows.
        """
        if fold not in ("dev", "test", None):
            raise ValueError(f"fold must be 'dev', 'test' or None, got {fold!r}")
        parts = [self.events]
        if fold != "dev" and self.holdout.num_rows:
            extra = self.holdout
            if fold == "test":
                extra = extra.filter(pc.equal(extra.column("fold"), "dev"))
            parts.append(extra.select(EVENTS_SCHEMA.names).cast(EVENTS_SCHEMA))
        table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        return table.sort_by([("user_id", "ascending"), ("timestamp", "ascending")])

    def targets(self, fold: str) -> dict[str, str]:
        """user -> the user's held-out item of ``fold`` ("dev" or "test"), in holdout order."""
        rows = self.holdout.filter(pc.equal(self.holdout.column("fold"), fold))
        return dict(zip(rows.column("user_id").to_pylist(), rows.column("item_id").to_pylist()))

    def train_plus_dev(self) -> "Dataset":
        """The data set a model is refitted on for the test figures: ``events`` = train + the dev targets,
        ``holdout`` = the test rows only (so ``history("test")`` is unchanged)."""
        test = self.holdout.filter(pc.equal(self.holdout.column("fold"), "test"))
        return Dataset(self.name, self.items, self.users, self.history("test"), self.searches, test)

    def summary(self) -> dict[str, int]:
        """Row counts of every table, for printing."""
        return {
            "items": self.items.num_rows,
            "users": self.users.num_rows,
            "events": self.events.num_rows,
            "searches": self.searches.num_rows,
            "holdout": self.holdout.num_rows,
        }
