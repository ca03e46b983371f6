"""Moved to :mod:`recgpt.data.split` (the data area owns the split; ``recgpt data load`` makes it too)."""

from recgpt.data.split import apply_split, leave_one_out

__all__ = ["apply_split", "leave_one_out"]
