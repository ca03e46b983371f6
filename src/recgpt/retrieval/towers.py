"""The three towers of the user-item-tag retriever (report 2.3.1).

Shapes: d = ``out_dim``. Item indices are catalog positions; ``pad`` = n_items marks an empty sequence slot.

- :class:`ItemTower`: EMB(item id, category, brand, price bucket, popularity bucket) -> DNN -> h_v (n_items, d).
- :class:`MeanPoolUserTower`: report's tower, DNN([EMB(user id); mean h_v per behavior type]) at every prefix.
- :class:`SequenceUserTower`: causal self-attention over recent behaviors (item + position + behavior type).
- :class:`TagTower`: mean of WordPiece token embeddings -> DNN -> h_t; or MiniLM sentence vector -> DNN.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from recgpt.data.schema import BEHAVIORS


def mlp(in_dim: int, hidden: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim)
    )


def normal_init(module: nn.Module, std: float) -> None:
    """BERT/SASRec initialisation: N(0, std) for every embedding table and weight matrix of ``module``."""
    for param in module.parameters():
        if param.dim() > 1:
            nn.init.normal_(param, std=std)


def discretize(values: np.ndarray, buckets: int) -> np.ndarray:
    """Quantile buckets 1..buckets of finite values (log-scaled), 0 for missing; shape of ``values``."""
    out = np.zeros(len(values), dtype=np.int64)
    finite = np.isfinite(values)
    if finite.sum() == 0:
        return out
    logs = np.log1p(np.maximum(values[finite], 0.0))
    edges = np.unique(np.quantile(logs, np.linspace(0, 1, buckets + 1)[1:-1]))
    out[finite] = np.searchsorted(edges, logs, side="right") + 1
    return out


ITEM_FEATURES = ("id", "category", "brand", "price", "popularity", "title")


class ItemTower(nn.Module):
    """h_v for every item at once: features are fixed buffers, so ``forward()`` returns (n_items, d).

    ``features`` picks which of :data:`ITEM_FEATURES` are embedded and concatenated before the DNN; "title"
    projects a fixed text vector per item (``title_vectors`` (n_items, t), e.g. MiniLM's 384-d) to ``emb_dim``.
    """

    def __init__(self, category, brand, price_bucket, pop_bucket, emb_dim, hidden, out_dim, dropout,
                 features=ITEM_FEATURES, title_vectors=None, id_residual=False, init_std=None):
        super().__init__()
        self.id_residual = None
        if id_residual:  # a free d-dim item-id vector added to the DNN output (SASRec's item embedding)
            self.id_residual = nn.Embedding(len(category), out_dim)
            nn.init.normal_(self.id_residual.weight, std=0.02)
        unknown = set(features) - set(ITEM_FEATURES)
        if unknown or not features:
            raise ValueError(f"item tower features must be a non-empty subset of {ITEM_FEATURES}, got {features}")
        self.features = tuple(f for f in ITEM_FEATURES if f in features)
        values = {"category": category, "brand": brand, "price": price_bucket, "popularity": pop_bucket}
        self.n_items = len(category)
        self.embeddings = nn.ModuleDict()
        for name in self.features:
            if name == "title":
                if title_vectors is None:
                    raise ValueError("item tower feature 'title' needs title_vectors")
                self.register_buffer("title_vectors", torch.as_tensor(np.asarray(title_vectors), dtype=torch.float32))
                self.title_proj = nn.Linear(self.title_vectors.shape[1], emb_dim)
                continue
            if name == "id":
                rows = self.n_items
            else:
                self.register_buffer(f"{name}_code", torch.as_tensor(np.asarray(values[name]), dtype=torch.long))
                rows = int(getattr(self, f"{name}_code").max()) + 1
            self.embeddings[name] = nn.Embedding(rows, emb_dim)
            nn.init.normal_(self.embeddings[name].weight, std=0.1)
        self.dnn = mlp(len(self.features) * emb_dim, hidden, out_dim, dropout)
        if init_std:
            normal_init(self, init_std)

    def forward(self) -> torch.Tensor:
        feats = [self._feature(name) for name in self.features]
        out = self.dnn(torch.cat(feats, dim=-1))
        return out if self.id_residual is None else out + self.id_residual.weight

    # state-dict names of models saved before the feature choice existed -> current names
    _LEGACY_NAMES = {
        "item_emb.": "embeddings.id.", "cat_emb.": "embeddings.category.", "brand_emb.": "embeddings.brand.",
        "price_emb.": "embeddings.price.", "pop_emb.": "embeddings.popularity.", "category": "category_code",
        "brand": "brand_code", "price_bucket": "price_code", "pop_bucket": "popularity_code",
    }

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for old, new in self._LEGACY_NAMES.items():
            for key in [k for k in state_dict if k == prefix + old or (old.endswith(".") and k.startswith(prefix + old))]:
                state_dict[prefix + new + key[len(prefix + old):]] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _feature(self, name: str) -> torch.Tensor:
        """(n_items, emb_dim) input block of one feature."""
        if name == "title":
            return self.title_proj(self.title_vectors)
        if name == "id":
            return self.embeddings["id"].weight
        return self.embeddings[name](getattr(self, f"{name}_code"))


def pad_items(h_items: torch.Tensor) -> torch.Tensor:
    """Append a zero row so index n_items (the pad) looks up a zero vector: (n_items + 1, d)."""
    return torch.cat([h_items, h_items.new_zeros(1, h_items.shape[1])], dim=0)


class MeanPoolUserTower(nn.Module):
    """Report 2.3.1: h_u = DNN([EMB(user id); s^b1; s^b2; ...]), s^b = mean of h_v over behavior b so far.

    forward(user_rows (B,), items (B, L), behaviors (B, L), h_items (n_items, d)) -> (B, L, d): the user
    vector after each prefix items[:, :t+1] (order inside the prefix is ignored: mean pooling).
    user_rows: 0 = unknown user (no id embedding learned), else 1 + training row.
    """

    def __init__(self, n_users, out_dim, hidden, dropout, use_user_id=True, **_):
        super().__init__()
        self.n_behaviors = len(BEHAVIORS)
        self.use_user_id = use_user_id
        self.user_emb = nn.Embedding(n_users + 1, out_dim)
        nn.init.normal_(self.user_emb.weight, std=0.01)
        self.dnn = mlp((self.n_behaviors + 1) * out_dim, hidden, out_dim, dropout)

    def forward(self, user_rows, items, behaviors, h_items):
        vecs = pad_items(h_items)[items]  # (B, L, d)
        valid = (items < h_items.shape[0]).float()
        pooled = []
        for b in range(self.n_behaviors):
            mask = valid * (behaviors == b).float()
            total = torch.cumsum(vecs * mask.unsqueeze(-1), dim=1)
            count = torch.cumsum(mask, dim=1).clamp(min=1.0).unsqueeze(-1)
            pooled.append(total / count)
        user = self.user_emb(user_rows if self.use_user_id else torch.zeros_like(user_rows))
        user = user.unsqueeze(1).expand(-1, items.shape[1], -1)
        return self.dnn(torch.cat([user, *pooled], dim=-1))


class SequenceUserTower(nn.Module):
    """Causal self-attention over the last L behaviors (left-padded): h_v + EMB(position) + EMB(behavior).

    layout "pre_norm": pre-LayerNorm layers, then LayerNorm and a linear output; "sasrec": SASRec's layout
    (LayerNorm of the input, post-LayerNorm layers, the last hidden state is the output).

    forward(user_rows, items (B, L), behaviors (B, L), h_items) -> (B, L, d); position t sees items[:, :t+1].
    """

    def __init__(self, n_users, out_dim, hidden, dropout, max_len=50, n_layers=2, n_heads=2, layout="pre_norm",
                 init_std=None, **_):
        super().__init__()
        self.layout = layout
        self.max_len = max_len
        self.n_heads = n_heads
        self.pos_emb = nn.Embedding(max_len, out_dim)
        self.beh_emb = nn.Embedding(len(BEHAVIORS), out_dim)
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        nn.init.normal_(self.beh_emb.weight, std=0.02)
        layer = nn.TransformerEncoderLayer(
            out_dim, n_heads, dim_feedforward=hidden, dropout=dropout, batch_first=True,
            norm_first=layout == "pre_norm", activation="gelu",
        )
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(out_dim)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(out_dim, out_dim) if layout == "pre_norm" else None
        if init_std:
            normal_init(self, init_std)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if self.out is None:  # models saved before the sasrec layout dropped its unused output layer
            for key in [k for k in state_dict if k.startswith(prefix + "out.")]:
                del state_dict[key]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, user_rows, items, behaviors, h_items):
        length = items.shape[1]
        pad = items >= h_items.shape[0]
        x = pad_items(h_items)[items] + self.beh_emb(behaviors.clamp(min=0))
        x = x + self.pos_emb.weight[self.max_len - length :].unsqueeze(0)
        if self.layout == "sasrec":
            x = self.norm(x)
        x = self.drop(x) * (~pad).unsqueeze(-1).float()
        # allowed[b, q, k]: key k is at or before q and is a real item, or k is q itself (so no row is empty)
        causal = torch.ones(length, length, dtype=torch.bool).tril()
        allowed = causal.unsqueeze(0) & ~pad.unsqueeze(1)
        allowed = allowed | torch.eye(length, dtype=torch.bool).unsqueeze(0)
        mask = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))
        mask = mask.repeat_interleave(self.n_heads, dim=0)
        h = self.encoder(x, mask=mask)
        return h if self.layout == "sasrec" else self.out(self.norm(h))


class TagTower(nn.Module):
    """h_t from tag text. mode "scratch"/"minilm_init": mean of token embeddings (B, T) -> DNN;
    mode "minilm_feed": a 384-d MiniLM sentence vector (B, 384) -> DNN.
    """

    def __init__(self, mode, vocab_size, emb_dim, hidden, out_dim, dropout, init_weights=None):
        super().__init__()
        self.mode = mode
        if mode == "minilm_feed":
            self.dnn = mlp(384, hidden, out_dim, dropout)
            return
        if mode == "minilm_init":
            if init_weights is None:
                raise ValueError("tag tower mode 'minilm_init' needs MiniLM token embeddings")
            emb_dim = init_weights.shape[1]
        # sparse gradients: a step touches only the tokens of the batch (the table has 30,522 rows)
        self.token_emb = nn.Embedding(vocab_size, emb_dim, padding_idx=0, sparse=True)
        if init_weights is not None:
            with torch.no_grad():
                self.token_emb.weight.copy_(torch.as_tensor(init_weights))
        else:
            nn.init.normal_(self.token_emb.weight, std=0.1)
        self.dnn = mlp(emb_dim, hidden, out_dim, dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.mode == "minilm_feed":
            return self.dnn(tokens)
        mask = (tokens > 0).float().unsqueeze(-1)
        pooled = (self.token_emb(tokens) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.dnn(pooled)


class TARNet(nn.Module):
    """The three towers together (outputs L2-normalised when ``normalize``). ``user(...)`` -> (B, L, d), ``items()`` -> (n_items, d), ``tags(x)`` -> (B, d)."""

    def __init__(self, item_tower: ItemTower, user_tower: nn.Module, tag_tower: TagTower, normalize: bool):
        super().__init__()
        self.item_tower = item_tower
        self.user_tower = user_tower
        self.tag_tower = tag_tower
        self.normalize = normalize

    def _out(self, h: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(h, dim=-1) if self.normalize else h

    def items(self) -> torch.Tensor:
        return self._out(self.item_tower())

    def user(self, user_rows, items, behaviors, h_items=None) -> torch.Tensor:
        """User vectors at every position (B, L, d); pooling reads the (normalised) item vectors."""
        h_items = self.items() if h_items is None else h_items
        return self._out(self.user_tower(user_rows, items, behaviors, h_items))

    def tags(self, tag_input) -> torch.Tensor:
        return self._out(self.tag_tower(tag_input))
