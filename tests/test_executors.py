"""Executors (local and Ray) pass the shared contract of :mod:`suites.executor`; the Ray executor also
survives a worker killed mid-block, folds earlier block files into the cache without a call, spreads its
workers over several servers, and answers like the local executor against a real llama.cpp server.

The Ray tests start a private Ray with two CPUs once for this module and skip when Ray is not installed
(the ``ray`` extra)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from executor_helpers import ScriptedEngine, expected_color, smoke_requests
from llm_fault_server import FaultServer
from suites.executor import ITEMS, ExecutorContract, saved_retriever  # noqa: F401 (a fixture)

from recgpt import registry
from recgpt.executors.config import ExecutorConfig
from recgpt.executors.local import LocalExecutor
from recgpt.llm.config import LLMConfig
from recgpt.llm.runtime import LLMRuntime
from recgpt.llm.smoke import Color


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'recgpt[ray]')")
    import executor_helpers
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(executor_helpers)  # the workers cannot import the tests folder
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def ray_executor(folder, engine, **options):
    from recgpt.executors.ray_executor import RayExecutor

    config = ExecutorConfig(name="ray", **{"workers": 2, **options})
    return RayExecutor(config, blocks_dir=folder / "blocks", backend_factory=engine)


class TestLocalExecutor(ExecutorContract):
    def make_executor(self, folder, engine, **options):
        return LocalExecutor(ExecutorConfig(**options))


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
class TestRayExecutor(ExecutorContract):
    def make_executor(self, folder, engine, **options):
        return ray_executor(folder, engine, **options)


def test_every_registered_executor_has_a_contract_case():
    cases = {"local.v1": TestLocalExecutor, "ray.v1": TestRayExecutor}
    assert set(registry.executors.names()) == set(cases)


def _runtime(folder, engine, executor, **llm) -> LLMRuntime:
    config = LLMConfig(**{"backend": "fake", "progress": False, "backoff_s": 0.0,
                          "options": {"fake": {"answers": ["never asked in this process"]}}, **llm})
    return LLMRuntime(config, cache_path=folder / "cache.sqlite", usage_path=folder / "usage.jsonl",
                      backend=engine(config), executor=executor)


def _block_keys(folder) -> list[str]:
    return [row["cache_key"] for path in sorted((folder / "blocks").glob("block-*.parquet"))
            for row in pq.read_table(path).to_pylist() if row["ok"]]


@pytest.mark.ray
@pytest.mark.slow
def test_a_worker_killed_mid_block_loses_only_that_blocks_answers(ray_session, tmp_path):
    engine = ScriptedEngine(str(tmp_path / "calls.log"), kill_after=3)
    items = [f"{name}{n}" for n in range(2) for name in ITEMS]  # 20 calls, blocks of 4
    with _runtime(tmp_path, engine, ray_executor(tmp_path, engine, block_size=4)) as runtime:
        results = runtime.run_batch(smoke_requests(items))
    assert (tmp_path / "calls.log.killed").exists()  # a worker did die, after its 3rd call
    assert [r.value.color for r in results] == [expected_color(item) for item in items]
    keys = _block_keys(tmp_path)
    assert len(keys) == len(set(keys)) == len(items)  # nothing lost, nothing written twice
    calls = engine.calls()
    assert set(calls) == set(items) and len(items) < len(calls) <= len(items) + 3  # only the dead block's calls
    with _runtime(tmp_path, engine, ray_executor(tmp_path, engine, block_size=4)) as runtime:
        again = runtime.run_batch(smoke_requests(items))
    assert all(r.cached for r in again) and len(engine.calls()) == len(calls)


@pytest.mark.ray
@pytest.mark.slow
def test_block_files_refill_a_lost_cache_without_a_call(ray_session, tmp_path):
    engine = ScriptedEngine(str(tmp_path / "calls.log"))
    with _runtime(tmp_path, engine, ray_executor(tmp_path, engine, block_size=3)) as runtime:
        runtime.run_batch(smoke_requests(ITEMS))
    (tmp_path / "cache.sqlite").unlink()  # as if the run stopped before folding the blocks
    for extra in ("cache.sqlite-wal", "cache.sqlite-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    with _runtime(tmp_path, engine, ray_executor(tmp_path, engine, block_size=3)) as runtime:
        results = runtime.run_batch(smoke_requests(ITEMS))
        assert len(runtime.cache) == len(ITEMS)
    assert [r.value.color for r in results] == [expected_color(item) for item in ITEMS]
    assert all(r.cached for r in results) and len(engine.calls()) == len(ITEMS)
    assert len(_block_keys(tmp_path)) == len(ITEMS)


@pytest.mark.ray
@pytest.mark.slow
def test_workers_spread_over_several_servers(ray_session, tmp_path):
    from recgpt.executors.ray_executor import RayExecutor

    answer = lambda prompt: '{"color": "%s"}' % prompt.split("Item: ")[1].split("\n")[0][::-1]  # noqa: E731
    with FaultServer(answer=answer) as one, FaultServer(answer=answer) as two:
        config = LLMConfig(backend="openai", progress=False, options={"openai": {"base_url": one.url}})
        executor = RayExecutor(ExecutorConfig(name="ray", workers=2, block_size=2, server_urls=[one.url, two.url]),
                               blocks_dir=tmp_path / "blocks")
        with LLMRuntime(config, cache_path=tmp_path / "cache.sqlite", executor=executor) as runtime:
            results = runtime.run_batch(smoke_requests(ITEMS))
        assert [r.value.color for r in results] == [expected_color(item) for item in ITEMS]
        assert sum(one.counts.values()) > 0 and sum(two.counts.values()) > 0
        assert sum(one.counts.values()) + sum(two.counts.values()) == len(ITEMS)


@pytest.mark.ray
@pytest.mark.slow
def test_an_engine_that_cannot_be_built_fails_the_stage_with_its_reason(ray_session, tmp_path):
    from recgpt.executors.ray_executor import RayExecutorError
    from recgpt.llm.fake import FakeBackend

    config = LLMConfig(backend="llama-cpp", progress=False, options={"llama-cpp": {"model": str(tmp_path / "no.gguf")}})
    executor = ray_executor(tmp_path, None, block_size=2)
    with LLMRuntime(config, cache_path=tmp_path / "cache.sqlite", backend=FakeBackend(["unused"]),
                    executor=executor) as runtime:
        with pytest.raises(RayExecutorError, match="could not build its engine.*no.gguf: GGUF model file not found"):
            runtime.run_batch(smoke_requests(ITEMS[:4]))


def test_server_urls_need_the_openai_backend():
    from recgpt.executors.ray_executor import RayExecutor, RayExecutorError

    executor = RayExecutor(ExecutorConfig(name="ray", server_urls=["http://127.0.0.1:1/v1"]))
    with pytest.raises(RayExecutorError, match="server_urls.*llama-cpp"):
        executor.worker_config(LLMConfig(backend="llama-cpp"), 0)


def test_the_executor_block_is_checked():
    from recgpt.config import ConfigError
    from recgpt.pipeline.config import load_config

    with pytest.raises(ConfigError, match="executor.name: unknown executor 'spark'; registered: local.v1, ray.v1"):
        load_config(None, {"executor.name": "spark"})
    with pytest.raises(ConfigError, match="server_urls must be http"):
        load_config(None, {"executor.server_urls": ["gpu1:8000"]})
    assert load_config(None, {"executor.name": "ray"}).executor.name == "ray"


@pytest.mark.ray
@pytest.mark.llm
@pytest.mark.slow
def test_ray_answers_like_local_against_a_real_llama_cpp_server(ray_session, tmp_path):
    pytest.importorskip("llama_cpp")
    from recgpt.executors.ray_executor import RayExecutor
    from recgpt.llm.local_server import LlamaServer
    from recgpt.llm.records import LLMRequest

    requests = [LLMRequest(item, "smoke", {"item": item}, schema=Color, max_tokens=16)
                for item in ("banana", "coal", "snow", "tomato")]
    with LlamaServer(threads=1, n_ctx=512) as url:
        config = LLMConfig(backend="openai", progress=False, structured_retries=0,
                           options={"openai": {"base_url": url, "timeout_s": 60}})
        with LLMRuntime(config, cache_path=tmp_path / "local" / "cache.sqlite") as runtime:
            local = runtime.run_batch(requests)
        executor = RayExecutor(ExecutorConfig(name="ray", workers=2, block_size=2, server_urls=[url]),
                               blocks_dir=tmp_path / "ray" / "blocks")
        with LLMRuntime(config, cache_path=tmp_path / "ray" / "cache.sqlite", executor=executor) as runtime:
            distributed = runtime.run_batch(requests)
    assert [r.text for r in distributed] == [r.text for r in local]
    assert [r.ok for r in distributed] == [r.ok for r in local] and any(r.ok for r in local)
    assert len(_block_keys(tmp_path / "ray")) == sum(r.ok for r in local)


def test_recommend_all_writes_every_users_list(saved_retriever, tmp_path):  # noqa: F811
    """The command on the local executor (the Ray job behind it passes the same contract above)."""
    import shutil

    from typer.testing import CliRunner

    from recgpt.cli.main import app
    from recgpt.data.store import save_dataset
    from recgpt.retrieval.saved import load_model
    from recgpt.retrieval.synthetic import planted_dataset

    folder, _, _ = saved_retriever
    save_dataset(planted_dataset(), tmp_path / "data")
    shutil.copytree(folder, tmp_path / "retriever")
    result = CliRunner().invoke(app, ["recommend-all", "--run", str(tmp_path), "--k", "5"])
    assert result.exit_code == 0, result.output
    rows = pq.read_table(tmp_path / "eval" / "batch_recommendations.parquet").to_pylist()
    users = sorted({r["user_id"] for r in rows})
    want = load_model(folder).recommend(users, 5)
    got = {u: [r["item_id"] for r in sorted(rows, key=lambda r: r["rank"]) if r["user_id"] == u] for u in users}
    assert len(users) == 48 and all(got[u] == list(want.item_ids[i]) for i, u in enumerate(users))


@pytest.mark.ray
@pytest.mark.slow
def test_the_interests_stage_on_ray_writes_the_local_table(ray_session, tmp_path):
    """`recgpt interests --executor ray` (the stage code, the fake backend built in each worker from the
    configuration) writes the table the local executor writes, and folds its blocks into the run's cache."""
    import yaml
    from stages_fixtures import tiny_dataset
    from test_stages_cli import UNIVERSAL
    from typer.testing import CliRunner

    from recgpt.cli.main import app
    from recgpt.data.store import save_dataset
    from recgpt.llm.cache import AnswerCache
    from recgpt.runfolder import RunFolder

    config = tmp_path / "stages.yaml"
    config.write_text(yaml.safe_dump({"llm": {"backend": "fake", "options": {"fake": {"answers": [UNIVERSAL] * 40}},
                                              "progress": False}}))
    tables = {}
    for executor in ("local", "ray"):
        run = RunFolder(tmp_path / executor).ensure()
        save_dataset(tiny_dataset(), run.data)
        result = CliRunner().invoke(app, ["interests", "--run", str(run.root), "--config", str(config),
                                          "--executor", executor])
        assert result.exit_code == 0, result.output
        tables[executor] = pq.read_table(run.interests_all).to_pylist()
        cache = AnswerCache(run.llm_cache)
        assert len(cache) == 3
        cache.close()
    assert tables["ray"] == tables["local"] and len(tables["local"]) == 3
    assert len(_block_keys(tmp_path / "ray" / "llm")) == 3
