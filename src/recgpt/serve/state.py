"""Everything the service answers from, loaded once from a finished run folder into memory.

:meth:`ServeState.load` checks that every file it needs exists (one start-up error naming each missing file
and the command that makes it), then reads the data tables, the retriever (``load_model``), the tuned beta,
the LLM stages' interests, tags (with phi categories and check verdicts) and compressed behavior, and the
explanation lookup table, and the serendipity channel's cached judgments when the run has them (see
:mod:`recgpt.serve.serendipity`); it computes the vectors every request needs (see :mod:`recgpt.serve.vectors`)
and the plans of the run's users (:class:`recgpt.serve.engine.Engine`). No file is read per request.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from recgpt.data.dataset import DataValidationError
from recgpt.errors import MissingInputError, RecgptError
from recgpt.runfolder import DATA_TABLES, RunFolder
from recgpt.serve.config import ServeConfig

log = logging.getLogger("recgpt.serve")


def required_files(run: RunFolder, config: ServeConfig) -> list[tuple[Path, str]]:
    """(file, what makes it) for every file the service reads from ``run``."""
    files = [(run.data / "dataset.json", "`recgpt run` (stage data)")]
    files += [(run.table(name), "`recgpt run` (stage data)") for name in DATA_TABLES]
    files += [(run.retriever / "model.json", "`recgpt run` (stage retriever)"),
              (run.retriever / "model.safetensors", "`recgpt run` (stage retriever)")]
    if config.require_llm_stages:
        files += [(run.tuning, "`recgpt run` (stage retrieve)"),
                  (run.compressed, "`recgpt run` (stage behavior)"),
                  (run.interests, "`recgpt run` (stage interests)"),
                  (run.tags, "`recgpt run` (stage tags)"),
                  (run.explanations, "`recgpt run` (stage explanations)")]
    return files


def check_run(root: str | Path, config: ServeConfig) -> RunFolder:
    """The run folder, or a :class:`MissingInputError` naming every missing file and what makes it."""
    run = RunFolder(Path(root))
    if not run.root.is_dir():
        raise MissingInputError(f"{run.root}: no run folder here (make one with `recgpt run`)")
    missing = [f"{path} (made by {how})" for path, how in required_files(run, config) if not path.exists()]
    if missing:
        hint = "" if not config.require_llm_stages else (
            "; to serve a run without the LLM stages set serve.require_llm_stages: false")
        raise MissingInputError(f"{run.root}: cannot serve this run folder, missing " + ", ".join(missing) + hint)
    return run


def run_stamp(root: str | Path, config: ServeConfig) -> str:
    """Identity of the run's content: its real path and size:mtime of every file the service reads; a changed
    stamp means a newer run to load (a rewritten folder, or a symlink pointed elsewhere)."""
    from recgpt.serve.vectors import file_stamp

    run = RunFolder(Path(root))
    files = [p for p, _ in required_files(run, config) if p.exists()]
    files += [p for p in (run.interests_all, run.stages_state) if p.exists()]
    if config.seral_quota != 0:  # the nearline serendipity channel: new judgments or settings are a newer run
        files += [p for p in (run.seral_judgments, run.seral_channel_metrics) if p.exists()]
    try:
        return os.path.realpath(run.root) + "|" + file_stamp(*files)
    except FileNotFoundError:  # a file vanished between the two calls: a run being rewritten
        return os.path.realpath(run.root) + "|changing"


@dataclass
class ServeState:
    """One loaded run. ``items``: item id -> title, category, brand, price, popularity (events in the visible
    history); ``interests``: user -> passed interests (the lookup's); ``interest_rows``/``tag_rows``: user -> every
    row with its verdict; ``compressed``: user -> compressed behavior row; ``channel``: the served serendipity
    channel (None: off)."""

    run: RunFolder
    stamp: str
    config: ServeConfig
    dataset_name: str
    items: dict[str, dict]
    users: set[str]
    engine: object
    beta: float
    interests: dict[str, list[str]]
    interest_rows: dict[str, list[dict]]
    tag_rows: dict[str, list[dict]]
    compressed: dict[str, dict]
    explanations: object
    channel: object = None  # a ServedChannel (recgpt.serve.serendipity), None when the channel is off
    loaded_at: float = field(default_factory=time.time)
    load_seconds: float = 0.0

    @classmethod
    def load(cls, root: str | Path, config: ServeConfig | None = None) -> "ServeState":
        import torch

        from recgpt.data.catalog import Catalog
        from recgpt.data.store import load_dataset
        from recgpt.pipeline.artifacts import read_json
        from recgpt.retrieval.saved import load_model
        from recgpt.serve.engine import Engine
        from recgpt.serve.explain import ExplanationLookup
        from recgpt.serve.serendipity import ServedChannel

        config = config or ServeConfig()
        started = time.perf_counter()
        stamp = run_stamp(root, config)
        run = check_run(root, config)
        torch.set_num_threads(config.torch_threads)
        dataset = load_dataset(run.data)
        history = dataset.history(None)
        model, searcher = _servable(load_model(run.retriever), run)
        model.use_history(dataset, None)
        catalog = Catalog.from_table(dataset.items)
        counts = catalog.counts(history)
        items = {}
        for row, count in zip(dataset.items.select(["item_id", "title", "category", "brand", "price"]).to_pylist(),
                              counts.tolist()):
            items[row["item_id"]] = {**row, "popularity": int(count)}
        users = set(dataset.users.column("user_id").to_pylist()) | set(history.column("user_id").to_pylist())
        tuning = read_json(run.tuning, {}) if run.tuning.exists() else {}
        beta = config.beta if config.beta is not None else float(tuning.get("beta_tuned", model.config.beta))
        tag_rows = _rows_by_user(run.tags, ("user_id", "tag", "interest", "category"))
        interest_rows = _rows_by_user(run.interests_all if run.interests_all.exists() else run.interests,
                                      ("user_id", "interest"))
        interests = {u: [r["interest"] for r in rows if r.get("passed_checks", True)]
                     for u, rows in interest_rows.items()}
        interests = {u: v for u, v in interests.items() if v}
        compressed = {r["user_id"]: r for rows in _rows_by_user(run.compressed, ("user_id", "text")).values()
                      for r in rows}
        engine = Engine(model, searcher, _llm_tags(tag_rows), cache_size=config.user_cache_size)
        _tag_vectors(engine, run)
        similarity = config.match_similarity if config.match_similarity is not None else _run_similarity(run)
        lookup = (ExplanationLookup.from_sqlite(run.explanations, similarity) if run.explanations.exists()
                  else ExplanationLookup([], similarity))
        _interest_vectors(lookup, interests, run)
        engine.warm(sorted(users)[: config.warm_users])
        channel = ServedChannel.load(run, dataset, config.seral_quota, set(items))
        state = cls(run, stamp, config, dataset.name, items, users, engine, beta, interests, interest_rows,
                    tag_rows, compressed, lookup, channel)
        state.load_seconds = time.perf_counter() - started
        log.info("serving %s: %d users, %d items, beta %g, %d LLM-tagged users, explanations %s (%.1f s)",
                 run.root, len(users), len(items), beta, len(engine.llm_tags), lookup.count(), state.load_seconds)
        return state

    def summary(self) -> dict:
        from recgpt.serve.serendipity import OFF

        return {"run": str(self.run.root), "dataset": self.dataset_name, "users": len(self.users),
                "items": len(self.items), "beta": self.beta, "loaded_at": self.loaded_at,
                "users_with_llm_tags": len(self.engine.llm_tags), "users_with_interests": len(self.interests),
                "explanations": self.explanations.count(),
                "serendipity": self.channel.summary() if self.channel is not None else OFF}


def _servable(model, run: RunFolder):
    """(embedding model, searcher): the model's saved index when it has one, else exact search."""
    from recgpt.retrieval.index import ExactIndex

    inner = getattr(model, "model", model)
    if not all(hasattr(inner, name) for name in ("net", "item_vectors", "tag_vectors", "catalog")):
        raise RecgptError(f"{run.retriever}: a {type(inner).__name__} cannot be served: the service needs the "
                          "user-item-tag retriever (tar), whose towers embed users and tags")
    searcher = getattr(model, "index", None) or ExactIndex().build(inner.item_vectors())
    return inner, searcher


def _rows_by_user(path: Path, needed: tuple[str, ...]) -> dict[str, list[dict]]:
    """user -> rows of a stage table, in file order; {} when the file does not exist."""
    import pyarrow.parquet as pq

    if not path.exists():
        return {}
    table = pq.read_table(path)
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        raise DataValidationError(f"{path}: column {missing[0]!r} is missing")
    out: dict[str, list[dict]] = {}
    for row in table.to_pylist():
        out.setdefault(str(row["user_id"]), []).append(row)
    return out


def _llm_tags(tag_rows: dict[str, list[dict]]) -> dict:
    """user -> the passed LLM tags (distinct texts, first occurrence), like ``retrieval.fusion.load_tag_table``."""
    from recgpt.serve.engine import LLM, TagRef

    out = {}
    for user, rows in tag_rows.items():
        refs: dict[str, TagRef] = {}
        for r in rows:
            if r.get("passed_checks", True) and r["tag"] and r["tag"] not in refs:
                refs[r["tag"]] = TagRef(r["tag"], LLM, r.get("interest") or None, r.get("category") or None)
        if refs:
            out[user] = list(refs.values())
    return out


def _tag_vectors(engine, run: RunFolder) -> None:
    from recgpt.serve.vectors import cached_vectors, file_stamp

    texts = engine.tag_texts_needed()
    stamp = file_stamp(run.retriever / "model.safetensors")
    engine.add_tag_vectors(texts, cached_vectors(run.serve_vectors, "tag_h", texts, engine.model.tag_vectors, stamp))


def _interest_vectors(lookup, interests: dict[str, list[str]], run: RunFolder) -> None:
    from recgpt.serve.vectors import cached_vectors, file_stamp

    if not lookup.needs_vectors:
        return
    from recgpt.embeddings import embed

    texts = sorted(set(lookup.stored_interests()) | {i for v in interests.values() for i in v})
    stamp = file_stamp(run.retriever / "model.safetensors")
    lookup.set_vectors(texts, cached_vectors(run.serve_vectors, "interest_minilm", texts, embed, stamp))


def _run_similarity(run: RunFolder) -> float:
    """``explanations.match_similarity`` of the run's configuration (the stages' default when absent)."""
    from recgpt.config import read_yaml_mapping
    from recgpt.stages.config import ExplanationsConfig

    default = ExplanationsConfig().match_similarity
    if not run.config.exists():
        return default
    block = read_yaml_mapping(run.config).get("explanations") or {}
    return float(block.get("match_similarity", default))
