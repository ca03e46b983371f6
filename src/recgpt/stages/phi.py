"""The tag-to-category model phi (report 2.2.2, 2.4.2): tag text -> catalog category.

MiniLM sentence embeddings (384-d, L2-normalised) followed by a multinomial logistic regression trained on
item titles and their categories. Tags are short ("blue gel ink pens") while titles are long and start with
a brand, so training optionally adds a brand-free prefix of every title and each category's own name.

Saved as ``phi.npz`` (coefficients, intercepts) plus ``phi.json`` (classes, config, accuracy): no pickle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recgpt.errors import MissingInputError
from recgpt.embeddings import embed
from recgpt.stages.config import PhiConfig
from recgpt.stages.text import words


@dataclass
class PhiReport:
    """Held-out accuracy of phi on item titles (top-1 and top-3), and the sizes it was measured on."""

    n_train_items: int
    n_test_items: int
    n_categories: int
    accuracy: float | None
    top3_accuracy: float | None
    majority_accuracy: float | None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class TagToCategory:
    config: PhiConfig = field(default_factory=PhiConfig)
    classes: list[str] = field(default_factory=list)
    coef: np.ndarray | None = None  # (n_classes, 384)
    intercept: np.ndarray | None = None  # (n_classes,)
    report: PhiReport | None = None

    # -- training ---------------------------------------------------------------------------------------
    def fit(
        self, titles: list[str], categories: list[str], brands: list[str | None] | None = None
    ) -> "TagToCategory":
        """Train on all items; before that, measure accuracy on a seeded, stratified held-out share."""
        if len(titles) != len(categories) or not titles:
            raise ValueError(f"fit needs equal, non-empty titles and categories ({len(titles)}, {len(categories)})")
        brands = list(brands) if brands is not None else [None] * len(titles)
        cats = np.asarray(categories)
        vectors = embed(list(titles))
        extra = self._extra_examples(titles, cats, brands)  # (owner index or -1, text, category)
        extra_vectors = embed([text for _, text, _ in extra])
        train_idx, test_idx = self._split(categories)
        if len(test_idx):
            classes, coef, intercept = self._train(vectors, cats, extra, extra_vectors, train_idx)
            order = np.argsort(-_softmax(vectors[test_idx] @ coef.T + intercept), axis=1)
            truth = np.array([classes.index(c) if c in classes else -1 for c in cats[test_idx]])
            train_cats = list(cats[train_idx])
            majority = max(set(train_cats), key=train_cats.count)
            self.report = PhiReport(
                len(train_idx), len(test_idx), len(set(categories)),
                float((order[:, 0] == truth).mean()),
                float((order[:, :3] == truth[:, None]).any(axis=1).mean()),
                float((cats[test_idx] == majority).mean()),
            )
        else:
            self.report = PhiReport(len(titles), 0, len(set(categories)), None, None, None)
        self.classes, self.coef, self.intercept = self._train(
            vectors, cats, extra, extra_vectors, np.arange(len(titles))
        )
        return self

    def _extra_examples(self, titles, cats, brands) -> list[tuple[int, str, str]]:
        extra = []
        if self.config.augment_short_titles:
            for i, (title, brand) in enumerate(zip(titles, brands)):
                short = short_title(title, brand)
                if short:
                    extra.append((i, short, str(cats[i])))
        if self.config.category_names_as_examples:
            extra.extend((-1, str(cat), str(cat)) for cat in sorted(set(cats.tolist())))
        return extra

    def _split(self, categories: list[str]) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.config.seed)
        cats = np.asarray(categories)
        train, test = [], []
        for cat in sorted(set(categories)):
            idx = rng.permutation(np.flatnonzero(cats == cat))
            n_test = int(round(len(idx) * self.config.holdout_share)) if len(idx) > 1 else 0
            test.extend(idx[:n_test])
            train.extend(idx[n_test:])
        return np.array(sorted(train), dtype=int), np.array(sorted(test), dtype=int)

    def _train(self, vectors, cats, extra, extra_vectors, idx):
        """Fit on items ``idx`` plus the extra examples owned by them (or by no item)."""
        from sklearn.linear_model import LogisticRegression

        allowed = set(idx.tolist()) | {-1}
        rows = [j for j, (owner, _, _) in enumerate(extra) if owner in allowed]
        x = np.vstack([vectors[idx], extra_vectors[rows]]) if rows else vectors[idx]
        y = np.concatenate([cats[idx], np.asarray([extra[j][2] for j in rows])]) if rows else cats[idx]
        clf = LogisticRegression(C=self.config.c, max_iter=self.config.max_iter)
        clf.fit(x, y)
        return [str(c) for c in clf.classes_], clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32)

    # -- inference --------------------------------------------------------------------------------------
    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """(len(texts), n_classes) probabilities, columns in ``self.classes`` order."""
        if self.coef is None:
            raise RuntimeError("TagToCategory is not trained: call fit() or load()")
        if not texts:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return _softmax(embed(list(texts)) @ self.coef.T + self.intercept)

    def predict(self, texts: list[str]) -> list[str]:
        probs = self.predict_proba(texts)
        return [self.classes[i] for i in probs.argmax(axis=1)]

    def predict_topk(self, texts: list[str], k: int) -> list[list[tuple[str, float]]]:
        probs = self.predict_proba(texts)
        order = np.argsort(-probs, axis=1)[:, :k]
        return [[(self.classes[j], float(row[j])) for j in cols] for row, cols in zip(probs, order)]

    # -- persistence ------------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "phi.npz", coef=self.coef, intercept=self.intercept)
        meta = {
            "classes": self.classes,
            "config": self.config.model_dump(mode="json"),
            "report": self.report.as_dict() if self.report else None,
        }
        (folder / "phi.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> "TagToCategory":
        folder = Path(folder)
        if not (folder / "phi.json").exists():
            raise MissingInputError(f"{folder}/phi.json: no trained phi here (run `recgpt train-phi`)")
        meta = json.loads((folder / "phi.json").read_text())
        arrays = np.load(folder / "phi.npz")
        report = PhiReport(**meta["report"]) if meta.get("report") else None
        return cls(PhiConfig(**meta["config"]), meta["classes"], arrays["coef"], arrays["intercept"], report)


def short_title(title: str, brand: str | None, n_words: int = 5) -> str:
    """The first ``n_words`` words of a title without the brand's words and model numbers (tag-like text)."""
    brand_words = set(words(brand or ""))
    kept = [w for w in words(title) if w not in brand_words and not any(ch.isdigit() for ch in w)]
    return " ".join(kept[:n_words])


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
