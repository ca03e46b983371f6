"""Typed configuration of the retrieval area (YAML block ``retriever``). Imports nothing heavy: reading a
configuration never imports torch or FAISS.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from recgpt.config import StrictConfig

#: Fusion weights tried on the dev fold to pick beta (``evaluation.beta_grid``, ``evaluate-retrievers``).
BETA_GRID = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)


class TARConfig(StrictConfig):
    """Configuration of the user-item-tag retriever (towers, losses, training, fusion)."""

    user_tower: Literal["sequence", "mean"] = Field("sequence", description="causal self-attention or report's mean pooling")
    tag_encoder: Literal["scratch", "minilm_init", "minilm_feed"] = Field(
        "minilm_feed",
        description="tag tower input: own token embeddings, MiniLM-initialised ones, or MiniLM sentence vectors "
        "(minilm_feed measured best on Amazon Office dev, README.md, Retrieval)",
    )
    tag_source: Literal["title", "short"] = Field("title", description="training tag of an item: its title or last words")
    tag_word_dropout: float = Field(0.3, ge=0, lt=1, description="share of tag tokens dropped in training")
    item_features: list[Literal["id", "category", "brand", "price", "popularity", "title"]] = Field(
        ["id", "category", "brand", "price", "popularity"],
        min_length=1,
        description="item tower inputs (embedded, concatenated, then a DNN); title = MiniLM vector of the title",
    )
    item_id_residual: bool = Field(
        True, description="add a free d-dim item-id vector to the item tower's output (SASRec's item embedding)"
    )
    sequence_layout: Literal["pre_norm", "sasrec"] = Field(
        "sasrec", description="sequence tower: pre-LN layers + output layer, or SASRec's post-LN layout"
    )
    init_std: float | None = Field(
        0.02, gt=0, description="sequence tower: normal(0, init_std) for every weight matrix, SASRec's "
        "initialisation (None = PyTorch's)",
    )
    item_init_std: float | None = Field(
        None, gt=0, description="item tower: normal(0, item_init_std) for every embedding and weight matrix"
    )
    batching: Literal["by_positions", "by_length", "random"] = Field(
        "by_positions",
        description="training batches: similar lengths with equal next-item positions per batch, similar lengths "
        "with batch_size users, or batch_size random users",
    )
    dim: int = Field(64, description="output dimension d of every tower")
    emb_dim: int = Field(32, description="embedding size of each sparse item feature and of tag tokens")
    hidden: int = Field(128, description="hidden width of the DNNs / attention feed-forward")
    max_len: int = Field(50, description="most recent behaviors read by the user tower")
    n_layers: int = 2
    n_heads: int = 2
    dropout: float = Field(0.5, ge=0, lt=1, description="dropout of the user and tag towers")
    item_dropout: float | None = Field(
        0.0, ge=0, lt=1, description="dropout inside the item tower's DNN (None = same as dropout)"
    )
    use_user_id: bool = Field(True, description="mean tower: add the user-id embedding")
    normalize: bool = Field(False, description="L2-normalise tower outputs (inner product = cosine)")
    temperature: float = Field(1.0, gt=0, description="logits = inner product / temperature in the losses")
    pop_buckets: int = 10
    price_buckets: int = 10
    epochs: int = Field(100, description="most training epochs (dev early stopping usually ends sooner)")
    batch_size: int = 256
    lr: float = 1e-3
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant", description="learning rate over the epochs: constant, or cosine decay from lr to 0"
    )
    weight_decay: float = 0.0
    n_negatives: int = Field(
        4096, description="uniformly sampled negative items per batch (shared); >= the catalog: full softmax"
    )
    alpha: float = Field(0.5, ge=0, le=1, description="L_col + alpha L_tag + (1-alpha) L_cate")
    sem_weight: float = Field(1.0, ge=0, description="weight of the semantic part (1 = the report's sum)")
    beta: float = Field(1.0, ge=0, le=1, description="fusion: h = beta h_user + (1-beta) h_tag")
    fusion_tags: int = Field(3, description="title tags from the last N items when no LLM tags exist")
    max_tag_tokens: int = 32
    eval_every: int = Field(2, description="epochs between dev evaluations (early stopping); 0 = never")
    patience: int = Field(8, description="dev evaluations without improvement before stopping")
    seed: int = 0
    threads: int = Field(2, description="torch CPU threads")
    flush_denormals: bool = Field(
        True, description="treat subnormal floats as zero while training: as the weights and gradients shrink, "
                          "subnormal arithmetic made late epochs up to twice as slow on the CPU")


class SearchDimension(StrictConfig):
    """One searched TARConfig key: a range (``low``, ``high``, ``log``; whole numbers when both ends are) or a
    list of ``choices``."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[float | int | str] | None = None

    @model_validator(mode="after")
    def _range_or_choices(self) -> "SearchDimension":
        if (self.choices is None) == (self.low is None or self.high is None):
            raise ValueError("give either low and high, or choices")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        return self


def _default_space() -> dict[str, SearchDimension]:
    return {
        "lr": SearchDimension(low=3e-4, high=3e-3, log=True),
        "dropout": SearchDimension(low=0.2, high=0.7),
        "dim": SearchDimension(choices=[32, 64, 128]),
        "n_layers": SearchDimension(choices=[1, 2, 3]),
        "batch_size": SearchDimension(choices=[128, 256, 512]),
        "alpha": SearchDimension(low=0.2, high=0.8),
    }


class RetrieverSearchConfig(StrictConfig):
    """``recgpt tune-retriever`` and ``recgpt run --tune-retriever`` (YAML block ``retriever_search``): an Optuna
    search of the TAR's main settings on dev Recall@20 (beta = 1, the early-stopping metric) within a time
    budget. Trial 0 is the configured retriever itself, so the kept model is never worse on dev than it; bad
    trials are pruned at their dev evaluations (median rule)."""

    enabled: bool = Field(False, description="recgpt run: search instead of training the configured retriever once")
    trials: int = Field(12, ge=1, description="most trials (trial 0 = the configured settings)")
    time_budget_s: float = Field(3600.0, gt=0, description="no trial starts after this; a running trial past it "
                                 "is pruned at its next dev evaluation (trial 0 always finishes)")
    epochs: int | None = Field(None, ge=1, description="most epochs per trial (None: retriever.epochs)")
    seed: int = Field(0, description="seed of the sampler")
    prune_after: int = Field(2, ge=0, description="dev evaluations of a trial before it may be pruned")
    startup_trials: int = Field(2, ge=0, description="finished trials before pruning starts")
    space: dict[str, SearchDimension] = Field(default_factory=_default_space,
                                              description="TARConfig key -> range or choices")

    @model_validator(mode="after")
    def _known_keys(self) -> "RetrieverSearchConfig":
        unknown = sorted(set(self.space) - set(TARConfig.model_fields))
        if unknown:
            raise ValueError(f"space: {', '.join(unknown)} is not a retriever setting")
        return self
