"""The three TAR losses of report 2.3.2, each a sampled softmax (InfoNCE) over inner products.

- L_col:  user vector h_u vs its clicked item h_v, against sampled negative items.
- L_tag:  tag vector h_t (the tag of a clicked item) vs that item, against sampled negative items.
- L_cate: h_t vs an item of the same category as v (positive), against items of other categories.
L_TAR = L_col + alpha * L_tag + (1 - alpha) * L_cate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sampled_softmax(
    query: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor, invalid: torch.Tensor | None = None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Mean of -log softmax of the positive logit among [positive, negatives].

    query (N, d), positive (N, d), negatives (M, d) shared by all rows; ``invalid`` (N, M) bool marks negatives
    that must not count for a row (an accidental hit of the positive, or a same-category item for L_cate).
    Logits are inner products divided by ``temperature`` (1 = the report's raw inner product).
    """
    pos = (query * positive).sum(-1, keepdim=True)
    neg = query @ negatives.T
    if invalid is not None:
        neg = neg.masked_fill(invalid, float("-inf"))
    logits = torch.cat([pos, neg], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(query), dtype=torch.long))


def collaborative_loss(h_user, h_items, targets, neg_items, temperature: float = 1.0) -> torch.Tensor:
    """L_col. h_user (N, d), h_items (n_items, d), targets (N,) item positions, neg_items (M,) positions."""
    invalid = targets.unsqueeze(1) == neg_items.unsqueeze(0)
    return sampled_softmax(h_user, h_items[targets], h_items[neg_items], invalid, temperature)


def tag_loss(h_tag, h_items, tag_items, neg_items, temperature: float = 1.0) -> torch.Tensor:
    """L_tag. h_tag (N, d) tags of items ``tag_items`` (N,); negatives are other sampled items (M,)."""
    invalid = tag_items.unsqueeze(1) == neg_items.unsqueeze(0)
    return sampled_softmax(h_tag, h_items[tag_items], h_items[neg_items], invalid, temperature)


def category_loss(
    h_tag, h_items, tag_items, same_cat_items, neg_items, item_category, temperature: float = 1.0
) -> torch.Tensor:
    """L_cate. Positive: ``same_cat_items`` (N,) drawn from each tag item's category; negatives: sampled
    items (M,) whose category differs from the tag item's (same-category samples are masked out)."""
    cats = item_category[tag_items]
    invalid = cats.unsqueeze(1) == item_category[neg_items].unsqueeze(0)
    return sampled_softmax(h_tag, h_items[same_cat_items], h_items[neg_items], invalid, temperature)


def tar_loss(l_col: torch.Tensor, l_tag: torch.Tensor, l_cate: torch.Tensor, alpha: float) -> torch.Tensor:
    """L_TAR = L_col + alpha L_tag + (1 - alpha) L_cate."""
    return l_col + alpha * l_tag + (1.0 - alpha) * l_cate
