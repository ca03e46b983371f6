"""The fixed behavior vocabulary every source maps its own behavior names onto (no heavy imports)."""

from __future__ import annotations

from enum import StrEnum


class Behavior(StrEnum):
    """The fixed behavior vocabulary. Sources map their own names onto these (see ``loaders``)."""

    CLICK = "click"
    DETAIL_VIEW = "detail_view"
    FAVORITE = "favorite"
    CART = "cart"
    PURCHASE = "purchase"
    REVIEW = "review"


BEHAVIORS: tuple[str, ...] = tuple(b.value for b in Behavior)

#: Intentional behaviors of report 2.1.1; plain clicks are left out. Searches are kept separately.
DEFAULT_RELIABLE_BEHAVIORS: tuple[str, ...] = (
    Behavior.DETAIL_VIEW,
    Behavior.FAVORITE,
    Behavior.CART,
    Behavior.PURCHASE,
    Behavior.REVIEW,
)
