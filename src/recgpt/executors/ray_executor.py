"""``ray.v1``: the LLM calls and the batch retrieval on a Ray cluster (the only module that imports Ray).

LLM calls: the calls the cache could not answer are cut into blocks of ``block_size``; ``workers`` actors
(Ray Core) each build one engine from the runtime's LLM configuration (the embedded model, llama.cpp, or an
OpenAI-compatible client of ``server_urls[i % len]``) and answer one block at a time, writing it as one
Parquet file keyed by cache key (:mod:`recgpt.executors.blocks`). As each block finishes, this process folds
its answers into the SQLite cache and the usage log, so ``recgpt report`` and later stages see one cache.
Resume: answers already in the cache never reach the executor, and answers already in a block file (a run
stopped before folding them) are folded without a call. An actor whose process dies is restarted by Ray
(``max_restarts``) and its block asked again from the start; the block file is written once.

Batch retrieval: a Ray Data ``map_batches`` job over batches of ``retrieval_batch_size`` users; each actor
of the pool loads the saved retriever (and its vector index) once, then embeds and searches batch after batch.
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from typing import Any, Callable

from recgpt.errors import RecgptError
from recgpt.executors.base import Executor
from recgpt.executors.blocks import BlockStore, block_id
from recgpt.executors.local import run_async

BackendFactory = Callable[[Any], Any]  # LLMConfig -> Backend, called inside each actor

#: Ray executors of this process that hold LLM actors. One holds them at a time: an executor about to start
#: actors releases the others' (a base and a tuned runtime in one run would otherwise each reserve the
#: cluster's CPUs, and the second one's actors would wait forever for them).
_HOLDERS: "weakref.WeakSet[RayExecutor]" = weakref.WeakSet()


class RayExecutorError(RecgptError):
    """Ray is missing, the cluster cannot be reached, or a worker failed for good."""


def ray_module():
    """``ray``, initialised: joins ``address`` when given, else starts a private instance."""
    try:
        import ray
    except ImportError as exc:
        raise RayExecutorError("the ray executor needs Ray: pip install 'recgpt[ray]' (or "
                               "'ray[data]' of the version pinned in pyproject.toml)") from exc
    return ray


def release_llm_actors(but: "RayExecutor | None" = None) -> None:
    """Stop the LLM actors of every Ray executor of this process (except ``but``), freeing their CPUs/GPUs."""
    for holder in list(_HOLDERS):
        if holder is not but:
            holder.close()


class RayExecutor(Executor):
    """See the module docstring. ``backend_factory`` replaces :func:`~recgpt.llm.base.create_backend` in the
    actors (a picklable callable; tests script a backend this way)."""

    name = "ray.v1"

    def __init__(self, config=None, blocks_dir: str | Path | None = None,
                 backend_factory: BackendFactory | None = None):
        super().__init__(config, blocks_dir)
        self.backend_factory = backend_factory
        self._actors: list = []
        self._actors_for: str | None = None  # the LLM configuration the actors were built from
        self._replaced = 0

    # ------------------------------------------------------------------ the cluster
    def connect(self):
        """``ray``, joined to the configured cluster (once per process)."""
        ray = ray_module()
        if not ray.is_initialized():
            cfg = self.config
            try:
                ray.init(address=cfg.address, num_cpus=None if cfg.address else cfg.num_cpus,
                         runtime_env=cfg.runtime_env or None, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise RayExecutorError(f"cannot start or join Ray (executor.address={cfg.address!r}): {exc}") from exc
        return ray

    def worker_config(self, config, index: int):
        """The LLM configuration of actor ``index``: ``config``, pointed at ``server_urls[index % len]`` when
        server URLs are given (the openai backend only)."""
        urls = self.config.server_urls
        if not urls:
            return config
        from recgpt.registry import family_of

        if family_of(config.backend) != "openai":
            raise RayExecutorError(f"executor.server_urls spreads workers over OpenAI-compatible servers; the "
                                   f"backend is {config.backend!r} (set llm.backend: openai, or remove server_urls)")
        return config.with_options(base_url=urls[index % len(urls)])

    def _start_actors(self, ray, config, wanted: int) -> None:
        fingerprint = config.model_dump_json()
        if self._actors_for != fingerprint:
            self.close()
            self._actors_for = fingerprint
        release_llm_actors(but=self)
        _HOLDERS.add(self)
        while len(self._actors) < min(wanted, self.config.workers):
            self._actors.append(self._new_actor(ray, config, len(self._actors)))

    def _new_actor(self, ray, config, index: int):
        worker = ray.remote(LLMWorker).options(
            num_cpus=self.config.cpus_per_worker, num_gpus=self.config.gpus_per_worker or None,
            max_restarts=self.config.max_restarts, max_task_retries=self.config.max_restarts)
        return worker.remote(self.worker_config(config, index), self.backend_factory)

    def close(self) -> None:
        if self._actors:
            ray = ray_module()
            for actor in self._actors:
                ray.kill(actor)
        self._actors = []
        self._actors_for = None
        _HOLDERS.discard(self)

    # ------------------------------------------------------------------ LLM calls
    def run_calls(self, calls, runner, progress):
        store = BlockStore(self._blocks_dir(runner))
        by_key = {call.cache_key: call for call in calls}
        results: dict = {}
        earlier = store.answers(set(by_key))
        self._fold(list(earlier.values()), by_key, runner, results, progress, cached=True)
        pending = [call for call in calls if call.cache_key not in earlier]
        size = self.config.block_size
        blocks = [pending[start:start + size] for start in range(0, len(pending), size)]
        if blocks:
            self._dispatch(blocks, by_key, runner, store, results, progress)
        return results

    def _blocks_dir(self, runner) -> Path:
        if self.blocks_dir is not None:
            return self.blocks_dir
        if runner.cache is None:
            raise RayExecutorError("the ray executor writes answers per block beside the runtime's cache: give "
                                   "the runtime a cache_path, or the executor a blocks_dir")
        return runner.cache.path.parent / "blocks"

    def _dispatch(self, blocks, by_key, runner, store: BlockStore, results, progress) -> None:
        """Keep every actor busy with one block; fold each block as it finishes."""
        ray = self.connect()
        self._start_actors(ray, runner.config, len(blocks))
        queue = [(block_id([c.cache_key for c in block]), block) for block in blocks]
        folder = str(store.folder.resolve())  # the workers' working directory is not this process's
        in_flight: dict = {}

        def submit(actor) -> None:
            name, block = queue.pop(0)
            in_flight[actor.run_block.remote(folder, name, block)] = (actor, name, block)

        for actor in self._actors:
            if queue:
                submit(actor)
        while in_flight:
            [ref], _ = ray.wait(list(in_flight), num_returns=1)
            actor, name, block = in_flight.pop(ref)
            try:
                ray.get(ref)
            except ray.exceptions.ActorDiedError as exc:
                if "creation task" in str(exc):  # the engine could not be built: no restart will fix that
                    reason = str(exc).strip().splitlines()[-1]  # the engine's own error, after Ray's traceback
                    raise RayExecutorError(f"an LLM worker could not build its engine: {reason}") from exc
                actor = self._replace(ray, actor, runner.config, exc)
                queue.insert(0, (name, block))
                submit(actor)
                continue
            except ray.exceptions.RayTaskError as exc:
                raise RayExecutorError(f"an LLM worker failed on block {name}: {exc.cause!r}") from exc
            self._fold(store.read(name), by_key, runner, results, progress)
            if queue:
                submit(actor)

    def _replace(self, ray, dead, config, exc):
        """A new actor in place of one that died more often than Ray restarts it."""
        self._replaced += 1
        if self._replaced > self.config.workers * (self.config.max_restarts + 1):
            raise RayExecutorError(f"LLM workers keep dying ({self._replaced} replaced): {exc}") from exc
        index = self._actors.index(dead)
        self._actors[index] = self._new_actor(ray, config, index)
        return self._actors[index]

    @staticmethod
    def _fold(rows, by_key, runner, results, progress, cached: bool = False) -> None:
        """Turn block rows into results: accepted answers into the cache, one usage line and one step of
        ``progress`` per call. ``cached``: answers written by an earlier run (no call made in this one)."""
        fresh = []
        for row in rows:
            call = by_key[row["cache_key"]]
            result = runner.result_from_answer(call, row["ok"], row["text"], row["error"], row["prompt_tokens"],
                                               row["completion_tokens"], row["latency_s"],
                                               0 if cached else row["attempts"], cached=cached)
            results[row["cache_key"]] = result
            fresh.append(result)
            progress.advance(result)
        if runner.cache is not None:
            runner.cache.put_many([(r["cache_key"], r["text"], r["prompt_tokens"], r["completion_tokens"],
                                    r["latency_s"]) for r in rows if r["ok"]])
        runner.usage.write_many(fresh, runner.backend.name, runner.backend.model_id)

    # ------------------------------------------------------------------ batch retrieval
    def recommend_users(self, model_folder, user_ids, k, tags=None, **recommend_options):
        from recgpt.retrieval.batch import concat_recommendations, user_batches

        ray = self.connect()
        release_llm_actors()  # the retrieval actors need the CPUs the LLM actors hold
        user_ids = list(user_ids)
        batches = user_batches(user_ids, self.config.retrieval_batch_size)
        if not batches:
            from recgpt.retrieval.saved import load_model

            return load_model(model_folder).recommend([], k, tags=tags, **recommend_options)
        rows = [{"batch": i, "user_ids": batch, "tags": json.dumps({u: tags[u] for u in batch if u in (tags or {})})}
                for i, batch in enumerate(batches)]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
        done = dataset.map_batches(
            BatchRecommender, batch_size=1, batch_format="pyarrow",
            fn_constructor_kwargs={"folder": str(model_folder), "k": k, "options": recommend_options},
            compute=ray.data.ActorPoolStrategy(size=min(self.config.workers, len(rows))),
            num_cpus=self.config.cpus_per_worker, num_gpus=self.config.gpus_per_worker or None,
        ).take_all()
        done.sort(key=lambda row: (row["batch"], row["position"]))
        return concat_recommendations(user_ids, done)


class LLMWorker:
    """One Ray actor: one engine, answering one block of calls at a time into a block folder."""

    def __init__(self, config, backend_factory: BackendFactory | None):
        from recgpt.llm.base import create_backend

        self.config = config
        self.backend = (backend_factory or create_backend)(config)

    def run_block(self, folder: str, name: str, calls: list) -> int:
        """Answer ``calls`` and write them as block ``name`` of ``folder`` (nothing to do when that block is
        already written); returns the number of rows of the block."""
        from recgpt.llm.batch import BatchProgress, BatchRunner, UsageLog
        from recgpt.progress import silent

        store = BlockStore(folder)
        if not store.has(name):
            runner = BatchRunner(self.backend, self.config, None, UsageLog(None))
            done = run_async(runner.execute(calls, BatchProgress(len(calls), "", silent)))
            store.write(name, [block_row(call.cache_key, done[call.cache_key]) for call in calls])
        return len(calls)


def block_row(key: str, result) -> dict:
    return {"cache_key": key, "ok": result.ok, "text": result.text, "error": result.error,
            "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
            "latency_s": result.latency_s, "attempts": result.attempts}


class BatchRecommender:
    """One actor of the retrieval pool: loads the saved retriever once, answers one batch of users per call
    with one row per user (batch, position, user_id, item_ids, scores, item_index)."""

    def __init__(self, folder: str, k: int, options: dict):
        from recgpt.retrieval.saved import load_model

        self.model, self.k, self.options = load_model(folder), k, options

    def __call__(self, table):
        import pyarrow as pa

        rows = []
        for batch, users, tags in zip(table.column("batch").to_pylist(), table.column("user_ids").to_pylist(),
                                      table.column("tags").to_pylist()):
            recs = self.model.recommend(users, self.k, tags=json.loads(tags) or None, **self.options)
            for position, user in enumerate(users):
                rows.append({"batch": batch, "position": position, "user_id": user,
                             "item_ids": [str(i) for i in recs.item_ids[position]],
                             "scores": recs.scores[position].tolist(),
                             "item_index": recs.item_index[position].tolist()})
        return pa.Table.from_pylist(rows, schema=pa.schema([
            ("batch", pa.int64()), ("position", pa.int64()), ("user_id", pa.string()),
            ("item_ids", pa.list_(pa.string())), ("scores", pa.list_(pa.float32())),
            ("item_index", pa.list_(pa.int64()))]))
