"""The user-item-tag retriever (TAR) as a :class:`~recgpt.retrieval.base.Recommender` named "tar".

``fit`` trains the three towers on ``dataset.events`` (early-stopped on dev Recall@20 when the dataset has dev
holdout rows), ``recommend`` runs fused retrieval with ``config.beta`` over an exact inner-product index (or the
index an :class:`~recgpt.retrieval.index.IndexedRecommender` passes in as ``searcher``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import torch

from recgpt.data.catalog import Catalog
from recgpt.progress import ProgressFn
from recgpt.retrieval.base import make_recommendations
from recgpt.retrieval.config import TARConfig
from recgpt.retrieval.fusion import fused_search, title_tags
from recgpt.retrieval.interactions import Sequences, exclusion_lists
from recgpt.retrieval.metrics import recall_at_k
from recgpt.retrieval.saved import (
    pack_catalog, pack_sequences, read_saved, unpack_catalog, unpack_sequences, write_saved,
)
from recgpt.retrieval.towers import (
    ItemTower, MeanPoolUserTower, SequenceUserTower, TagTower, TARNet, discretize,
)
from recgpt.retrieval.train import TrainingData, left_pad, train_tar


def short_tag(title: str, words: int = 4) -> str:
    """A shorter 'modifier + core word' form of a product title: its last ``words`` words (the noun phrase
    usually ends English titles: 'Standard Function Calculator')."""
    return " ".join(title.split()[-words:])


def tokenize_tags(texts: list[str], max_tokens: int) -> torch.Tensor:
    """(len(texts), max_tokens) MiniLM WordPiece ids without special tokens, 0-padded ([PAD] is 0)."""
    from recgpt.embeddings import minilm_tokenizer

    out = np.zeros((len(texts), max_tokens), dtype=np.int64)
    for r, enc in enumerate(minilm_tokenizer().encode_batch(list(texts), add_special_tokens=False)):
        ids = enc.ids[:max_tokens] or [100]  # [UNK] for an empty text
        out[r, : len(ids)] = ids
    return torch.from_numpy(out)


def minilm_token_embeddings() -> np.ndarray:
    """MiniLM's input token embedding matrix (30522, 384)."""
    from recgpt.embeddings import load_minilm

    return load_minilm()[0].auto_model.embeddings.word_embeddings.weight.detach().cpu().numpy().copy()


class TARRecommender:
    """Three-tower retriever. ``TARRecommender(TARConfig(...))`` or ``TARRecommender(beta=0.7, epochs=10)``."""

    def __init__(self, config: TARConfig | None = None, **options):
        self.config = config or TARConfig(**options)
        self.is_fitted = False
        self.training_log: list[dict] = []

    # ---------------------------------------------------------------- building
    def _build(self, catalog: Catalog, train_users: np.ndarray, popularity: np.ndarray, pretrained=True) -> None:
        c = self.config
        self.catalog, self.train_users, self.popularity = catalog, train_users, popularity
        item_tower = ItemTower(
            catalog.category, catalog.brand, discretize(catalog.price, c.price_buckets),
            discretize(self.popularity.astype(float), c.pop_buckets), c.emb_dim, c.hidden, c.dim,
            c.dropout if c.item_dropout is None else c.item_dropout,
            features=tuple(c.item_features), title_vectors=self._title_vectors(catalog, pretrained),
            id_residual=c.item_id_residual, init_std=c.item_init_std,
        )
        tower_cls = SequenceUserTower if c.user_tower == "sequence" else MeanPoolUserTower
        user_tower = tower_cls(
            n_users=len(train_users), out_dim=c.dim, hidden=c.hidden, dropout=c.dropout, max_len=c.max_len,
            n_layers=c.n_layers, n_heads=c.n_heads, use_user_id=c.use_user_id, layout=c.sequence_layout,
            init_std=c.init_std,
        )
        init = None
        if c.tag_encoder == "minilm_init":  # on load the weights come from the state dict
            init = minilm_token_embeddings() if pretrained else np.zeros((30522, 384), np.float32)
        tag_tower = TagTower(c.tag_encoder, 30522, c.emb_dim, c.hidden, c.dim, c.dropout, init)
        self.net = TARNet(item_tower, user_tower, tag_tower, c.normalize)

    def _title_vectors(self, catalog: Catalog, pretrained: bool) -> np.ndarray | None:
        """MiniLM vectors of the titles for the item tower's "title" feature (zeros on load: the state has them)."""
        if "title" not in self.config.item_features:
            return None
        if not pretrained:
            return np.zeros((len(catalog), 384), np.float32)
        return self._minilm_vectors(catalog.titles)

    def _tag_input(self, texts: list[str]) -> torch.Tensor:
        if self.config.tag_encoder == "minilm_feed":
            return torch.from_numpy(self._minilm_vectors(texts))
        return tokenize_tags(texts, self.config.max_tag_tokens)

    def _minilm_vectors(self, texts: list[str]) -> np.ndarray:
        """MiniLM sentence vectors (n, 384), cached per text (tags repeat: titles, a user's LLM tags)."""
        from recgpt.embeddings import embed

        cache = self.__dict__.setdefault("_minilm_cache", {})
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            cache.update(zip(missing, embed(missing)))
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)

    def training_tags(self) -> list[str]:
        titles = self.catalog.titles
        return titles if self.config.tag_source == "title" else [short_tag(t) for t in titles]

    def fit(self, dataset, fold: str | None = "dev", checkpoint: str | Path | None = None,
            progress: ProgressFn | None = None) -> "TARRecommender":
        """Train on ``dataset.events``; ``checkpoint`` (a file) makes a killed fit resume after its last epoch;
        ``progress`` is told after every epoch (with its losses and dev score)."""
        torch.manual_seed(self.config.seed)
        torch.set_num_threads(self.config.threads)
        catalog = Catalog.from_table(dataset.items)
        train = Sequences.from_events(dataset.events, catalog)
        self._build(catalog, train.users, catalog.counts(dataset.events))
        data = TrainingData(
            sequences=list(zip(train.items, train.behaviors)),
            user_rows=np.arange(1, len(train.users) + 1),
            tag_inputs=self._tag_input(self.training_tags()),
            item_category=torch.from_numpy(catalog.category),
            n_items=len(catalog),
        )
        evaluate = self._dev_evaluator(dataset)
        self.training_log = train_tar(self.net, data, self.config, evaluate, checkpoint, progress)
        self.is_fitted = True
        self._item_vectors = None
        self.use_history(dataset, fold)
        return self

    def _dev_evaluator(self, dataset):
        dev = dataset.holdout.filter(pc.equal(dataset.holdout.column("fold"), "dev"))
        if dev.num_rows == 0:
            return None
        users = dev.column("user_id").to_pylist()
        targets = self.catalog.positions(dev.column("item_id").to_pylist())
        history = Sequences.from_events(dataset.history("dev"), self.catalog)

        def evaluate() -> float:
            self.history, self._item_vectors, self.is_fitted = history, None, True
            recs = self.recommend(users, 20, beta=1.0)
            return recall_at_k(recs.item_index, targets, 20)

        return evaluate

    def use_history(self, dataset, fold: str | None) -> None:
        self.history = Sequences.from_events(dataset.history(fold), self.catalog)

    # ---------------------------------------------------------------- vectors
    @torch.no_grad()
    def item_vectors(self) -> np.ndarray:
        """h_v for the whole catalog, (n_items, d) float32, cached until the next fit."""
        if getattr(self, "_item_vectors", None) is None:
            self.net.eval()
            self._item_vectors = self.net.items().numpy().astype(np.float32)
        return self._item_vectors

    @torch.no_grad()
    def user_vectors(self, user_ids, batch_size: int = 1024) -> np.ndarray:
        """h_u after each user's visible history, (n_users, d) float32 (unknown users: empty history)."""
        self.net.eval()
        h_items = torch.from_numpy(self.item_vectors())
        row = {u: r + 1 for r, u in enumerate(self.train_users)}
        out = []
        user_ids = list(user_ids)
        for start in range(0, len(user_ids), batch_size):
            batch = user_ids[start : start + batch_size]
            seqs = [self.history.get(u) for u in batch]
            width = max(1, min(self.config.max_len, max(len(s) for s, _ in seqs)))
            items = left_pad([s for s, _ in seqs], width, len(self.catalog))
            behav = left_pad([b for _, b in seqs], width, 0)
            rows = torch.tensor([row.get(u, 0) for u in batch], dtype=torch.long)
            out.append(self.net.user(rows, items, behav, h_items)[:, -1].numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.config.dim), np.float32)

    @torch.no_grad()
    def tag_vectors(self, texts: list[str]) -> np.ndarray:
        """h_t for tag texts, (len(texts), d) float32."""
        if not texts:
            return np.zeros((0, self.config.dim), np.float32)
        self.net.eval()
        return self.net.tags(self._tag_input(texts)).numpy().astype(np.float32)

    def user_tags(self, user_ids, tags: dict[str, list[str]] | None) -> list[list[str]]:
        """Tags per user: the given (LLM) tags where a user has them, else titles of the last items."""
        out = []
        for u in user_ids:
            given = (tags or {}).get(u)
            if given:
                out.append(list(given))
            else:
                out.append(title_tags(self.history.get(u)[0], self.catalog.titles, self.config.fusion_tags))
        return out

    # ---------------------------------------------------------------- retrieval
    def recommend(self, user_ids, k: int = 10, tags=None, beta: float | None = None, searcher=None):
        """Fused top-k per user (see module doc). ``beta`` overrides ``config.beta`` for this call."""
        if not self.is_fitted:
            raise RuntimeError("TARRecommender.recommend called before fit (or load)")
        beta = self.config.beta if beta is None else float(beta)
        user_ids = list(user_ids)
        if searcher is None:
            searcher = self._exact_searcher()
        h_users = self.user_vectors(user_ids)
        if beta >= 1.0:
            h_tags = [np.zeros((0, self.config.dim), np.float32)] * len(user_ids)
        else:
            per_user = self.user_tags(user_ids, tags)
            flat = [t for ts in per_user for t in ts]
            vecs = self.tag_vectors(flat)
            bounds = np.cumsum([0] + [len(ts) for ts in per_user])
            h_tags = [vecs[bounds[i] : bounds[i + 1]] for i in range(len(user_ids))]
        idx, val = fused_search(searcher, h_users, h_tags, beta, k, exclusion_lists(self.history, user_ids))
        return make_recommendations(user_ids, self.catalog.item_ids, idx, val)

    def _exact_searcher(self):
        from recgpt.retrieval.index import ExactIndex

        vectors = self.item_vectors()
        if getattr(self, "_exact", None) is None or self._exact[0] is not vectors:
            self._exact = (vectors, ExactIndex().build(vectors))
        return self._exact[1]

    # ---------------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> None:
        """``model.json`` (configuration, catalog, users, training log) + ``model.safetensors`` (weights,
        catalog codes, popularity, visible history); see :mod:`recgpt.retrieval.saved`."""
        from recgpt import registry

        catalog_meta, arrays = pack_catalog(self.catalog)
        history_users, history_arrays = pack_sequences(self.history, "history")
        arrays.update(history_arrays)
        arrays.update({f"net.{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()})
        arrays["popularity"] = np.asarray(self.popularity, dtype=np.int64)
        meta = {"config": self.config.model_dump(mode="json"), "catalog": catalog_meta,
                "train_users": [str(u) for u in self.train_users], "history_users": history_users,
                "training_log": self.training_log}
        write_saved(folder, registry.retrievers.name_of(self), meta, arrays)

    @classmethod
    def load(cls, folder: str | Path) -> "TARRecommender":
        meta, arrays = read_saved(folder)
        obj = cls(TARConfig.from_dict(meta["config"], source=str(Path(folder) / "model.json")))
        catalog = unpack_catalog(meta["catalog"], arrays)
        obj._build(catalog, np.asarray(meta["train_users"], dtype=object), arrays["popularity"], pretrained=False)
        obj.net.load_state_dict({k[4:]: torch.from_numpy(v.copy()) for k, v in arrays.items() if k.startswith("net.")})
        obj.net.eval()
        obj.history = unpack_sequences(meta["history_users"], arrays, "history")
        obj.training_log, obj.is_fitted, obj._item_vectors = meta["training_log"], True, None
        return obj
