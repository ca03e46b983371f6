"""Time partitions of sequence-level compression (report 2.1.1), relative to a reference date (UTC).

An event ``d`` days before the reference date falls in the partition
``YYYY-MM-DD`` when ``d < day_window_days`` (default 30: one month of days),
``YYYY-MM`` when ``d < month_window_days`` (default 365: one year of months), else ``YYYY``.
Events after the reference date count as days. Labels sort lexicographically in time order, and the
parser recognises them by shape alone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

PERIOD_RE = r"\d{4}(?:-\d{2}(?:-\d{2})?)?"


def utc_date(timestamp: int) -> date:
    return datetime.fromtimestamp(timestamp, tz=UTC).date()


def period_label(timestamp: int, reference: date, day_window_days: int = 30, month_window_days: int = 365) -> str:
    """The partition of one unix timestamp (reference implementation, used by the tests)."""
    day = utc_date(timestamp)
    days_ago = (reference - day).days
    if days_ago < day_window_days:
        return day.isoformat()
    if days_ago < month_window_days:
        return f"{day.year:04d}-{day.month:02d}"
    return f"{day.year:04d}"


def add_periods(df: pl.DataFrame, reference: date, day_window_days: int, month_window_days: int) -> pl.DataFrame:
    """Add a ``period`` column to a frame with an Int64 ``timestamp`` column (unix seconds).

    Labels are computed once per distinct day and joined back, which keeps this cheap on long logs.
    """
    df = df.with_columns((pl.col("timestamp") // 86_400).cast(pl.Int32).alias("__day"))
    days = df.select(pl.col("__day").unique())
    ref_day = (reference - date(1970, 1, 1)).days
    as_date = pl.col("__day").cast(pl.Date)
    ago = pl.lit(ref_day) - pl.col("__day")
    days = days.with_columns(
        pl.when(ago < day_window_days)
        .then(as_date.dt.strftime("%Y-%m-%d"))
        .when(ago < month_window_days)
        .then(as_date.dt.strftime("%Y-%m"))
        .otherwise(as_date.dt.strftime("%Y"))
        .alias("period")
    )
    return df.join(days, on="__day", how="left").drop("__day")
