"""Memory a retriever needs, estimated from the catalog size before anything is fitted.

``recgpt run`` checks the classic baseline right after loading the data, before any slow stage, and
``recgpt evaluate-retrievers`` before fitting its baselines: a baseline that would not fit is a clear
:class:`MemoryBudgetError` up front (naming a scalable alternative), not a crash after the LLM stages.

Estimates are peaks in bytes, deliberately on the high side:

- ``ease``: the Gram matrix (float64), its inverse, B in float64 and B in float32: 28 m^2, with m = n_items
  or ``max_items``;
- ``itemknn``: one dense (n_items, block) slice of co-occurrence, similarity, neighbour ranks and a copy
  (16 bytes a cell) plus the kept neighbours (12 bytes each, twice while converting): n_items (16 block + 24 neighbors);
- ``popular``: negligible; every retriever also scores ``batch`` users at a time: batch x n_items x 16.
"""

from __future__ import annotations

import os

from recgpt.errors import RecgptError

GB = 1024**3
SCORE_BATCH = 1024


class MemoryBudgetError(RecgptError):
    """A retriever would need more memory than the machine (or the configured budget) has."""

    exit_code = 2


def estimate_bytes(name: str, n_items: int, options: dict | None = None) -> int:
    """Peak bytes to fit and score retriever family ``name`` on ``n_items`` items with ``options``."""
    from recgpt.registry import family_of

    options = options or {}
    family = family_of(name)
    scoring = SCORE_BATCH * n_items * 16
    if family == "ease":
        m = n_items if options.get("max_items") is None else min(n_items, int(options["max_items"]))
        return 28 * m * m + scoring
    if family == "itemknn":
        block = min(n_items, int(options.get("block", 2048)))
        neighbors = min(n_items, int(options.get("neighbors", 100)))
        return n_items * (16 * block + 24 * neighbors) + scoring
    return scoring + n_items * 64


def available_bytes() -> int:
    """Memory available to a new allocation now (``MemAvailable`` of /proc/meminfo; physical memory elsewhere)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def largest_ease_items(budget: int, n_items: int) -> int:
    """The largest ``max_items`` whose EASE estimate fits in ``budget`` bytes (scoring included)."""
    room = max(0, budget - SCORE_BATCH * n_items * 16)
    return max(0, min(n_items, int((room / 28) ** 0.5)))


def check_fits(name: str, n_items: int, options: dict | None = None, budget_gb: float | None = None,
               what: str = "the classic baseline") -> int:
    """Raise :class:`MemoryBudgetError` when ``name`` would not fit in ``budget_gb`` (default: the memory
    available now); the message names the estimate and a scalable alternative. Returns the estimate."""
    from recgpt.registry import family_of

    need = estimate_bytes(name, n_items, options)
    budget = int(budget_gb * GB) if budget_gb is not None else available_bytes()
    if need <= budget:
        return need
    family = family_of(name)
    knn = estimate_bytes("itemknn", n_items)
    fix = f"use `itemknn` (sparse, top-k neighbours computed in blocks: about {knn / GB:.1f} GB)"
    if family == "ease":
        m = largest_ease_items(int(budget * 0.8), n_items)
        fix += (f", or keep EASE on the most popular items with `max_items: {m}` (about "
                f"{estimate_bytes('ease', n_items, {'max_items': m}) / GB:.1f} GB)") if m >= 100 else ""
    elif family == "itemknn":
        fix = "lower `block` or `neighbors`"
    raise MemoryBudgetError(
        f"{what} {name!r} on {n_items:,} items needs about {need / GB:.1f} GB, more than the {budget / GB:.1f} GB "
        f"{'configured' if budget_gb is not None else 'available'}; {fix}"
    )
