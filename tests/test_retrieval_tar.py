"""The user-item-tag retriever: losses fall, tags steer retrieval, fusion merge, index agreement, save/load."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recgpt.retrieval.config import TARConfig
from recgpt.retrieval.fusion import fuse, load_tag_table, round_robin, title_tags
from recgpt.retrieval.index import IndexedRecommender, VectorIndex, make_index
from recgpt.retrieval.saved import SavedModelError, load_model
from recgpt.retrieval.synthetic import PLANTED_TAR_SETTINGS, planted_dataset
from recgpt.retrieval.tar import TARRecommender, short_tag

SMALL = PLANTED_TAR_SETTINGS


@pytest.fixture(scope="module")
def dataset():
    return planted_dataset()


@pytest.fixture(scope="module")
def model(dataset):
    return TARRecommender(TARConfig(**SMALL)).fit(dataset, "test")


def test_all_three_losses_fall(model):
    first, last = model.training_log[0], model.training_log[-1]
    for loss in ("l_col", "l_tag", "l_cate"):
        assert last[loss] < 0.7 * first[loss], f"{loss} did not fall: {first[loss]:.3f} -> {last[loss]:.3f}"


def test_tags_steer_retrieval_at_beta_zero(model):
    """A user of the crimson cluster asking for 'emerald stapler' gets emerald-stapler items (cluster 2)."""
    recs = model.recommend(["u0_0"], k=5, tags={"u0_0": ["emerald stapler"]}, beta=0.0)
    assert all(i.startswith("i2_") for i in recs.item_ids[0])
    collaborative = model.recommend(["u0_0"], k=3, beta=1.0)
    assert all(i.startswith("i0_") for i in collaborative.item_ids[0])


def test_fusion_gives_each_tag_a_share(model):
    recs = model.recommend(["u0_0"], k=6, tags={"u0_0": ["emerald stapler", "azure notebook"]}, beta=0.0)
    clusters = [i.split("_")[0] for i in recs.item_ids[0]]
    assert clusters.count("i2") == 3 and clusters.count("i1") == 3
    assert clusters[:2] in (["i2", "i1"], ["i1", "i2"])  # round-robin alternates


def test_title_tags_are_the_default_tags(model):
    tags = model.user_tags(["u3_0", "nobody"], None)
    assert len(tags[0]) == model.config.fusion_tags and all(t.startswith("amber lamp") for t in tags[0])
    assert tags[1] == []
    assert model.user_tags(["u3_0"], {"u3_0": ["red pen"]}) == [["red pen"]]


def test_round_robin_merge_excludes_and_dedupes():
    lists = np.array([[1, 2, 3, 4], [2, 5, 6, 7]])
    scores = np.array([[0.9, 0.8, 0.7, 0.6], [0.95, 0.5, 0.4, 0.3]])
    idx, val = round_robin(lists, scores, 5, exclude={3})
    assert idx.tolist() == [1, 2, 4, 5, 6]
    assert val.tolist() == pytest.approx([0.9, 0.95, 0.6, 0.5, 0.4])
    idx, _ = round_robin(lists[:1], scores[:1], 6, exclude=set())
    assert idx.tolist() == [1, 2, 3, 4, -1, -1]


def test_fuse_is_a_convex_mix():
    hu, ht = np.array([1.0, 0.0]), np.array([[0.0, 1.0], [1.0, 1.0]])
    assert fuse(hu, ht, 0.25).tolist() == [[0.25, 0.75], [1.0, 0.75]]
    assert fuse(hu, ht, 1.0).tolist() == [[1.0, 0.0]]
    assert fuse(hu, np.zeros((0, 2)), 0.5).tolist() == [[1.0, 0.0]]


def test_tag_table_from_the_stages_area(tmp_path):
    path = tmp_path / "tags.parquet"
    pq.write_table(pa.Table.from_pylist([
        dict(user_id="u1", tag="warm wool scarf", interest="x", reason="r", category="c", passed_checks=True),
        dict(user_id="u1", tag="bad tag", interest="x", reason="r", category="c", passed_checks=False),
        dict(user_id="u2", tag="gel pen", interest="x", reason="r", category="c", passed_checks=True),
    ]), path)
    assert load_tag_table(path) == {"u1": ["warm wool scarf"], "u2": ["gel pen"]}
    assert title_tags(np.array([0, 1, 0]), ["a", "b"], 5) == ["a", "b"]
    assert short_tag("Texas Instruments TI-30X IIS Scientific Calculator") == "TI-30X IIS Scientific Calculator"


@pytest.mark.parametrize("kind,options", [("hnsw", {"m": 8}), ("ivf", {"nlist": 4, "nprobe": 4})])
def test_exact_and_approximate_indexes_agree(model, dataset, kind, options):
    users = sorted({r["user_id"] for r in dataset.holdout.to_pylist()})
    exact = model.recommend(users, k=10, beta=0.5)
    approx = IndexedRecommender(model, kind, **options).recommend(users, k=10, beta=0.5)
    assert (exact.item_ids == approx.item_ids).mean() >= 0.99
    vectors = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
    e_idx = make_index("exact").build(vectors).search(vectors[:20], 10)[1]
    a_idx = make_index(kind, **options).build(vectors).search(vectors[:20], 10)[1]
    assert np.mean([len(set(a) & set(e)) / 10 for a, e in zip(a_idx, e_idx)]) >= 0.9


def test_save_and_load_give_the_same_recommendations(model, tmp_path):
    users = ["u0_0", "u2_3", "nobody"]
    tags = {"u2_3": ["violet pen"]}
    before = model.recommend(users, k=8, tags=tags, beta=0.5)
    model.save(tmp_path / "tar")
    after = load_model(tmp_path / "tar").recommend(users, k=8, tags=tags, beta=0.5)
    assert (before.item_ids == after.item_ids).all()
    np.testing.assert_allclose(before.scores, after.scores, rtol=1e-5)
    wrapped = IndexedRecommender(model, "hnsw", m=8)
    wrapped.save(tmp_path / "wrapped")
    loaded = IndexedRecommender.load(tmp_path / "wrapped")
    assert (loaded.recommend(users, 8, tags, beta=0.5).item_ids == before.item_ids).all()
    assert isinstance(loaded.index, VectorIndex) and loaded.index.kind == "hnsw"


@pytest.mark.parametrize("encoder", ["minilm_init", "minilm_feed"])
def test_minilm_tag_encoders_train_and_reload(dataset, encoder, tmp_path):
    config = TARConfig(**(SMALL | {"epochs": 8, "tag_encoder": encoder}))
    model = TARRecommender(config).fit(dataset, "test")
    assert model.training_log[-1]["l_tag"] < model.training_log[0]["l_tag"]
    before = model.recommend(["u1_1"], k=5, tags={"u1_1": ["golden binder"]}, beta=0.0)
    model.save(tmp_path)
    after = TARRecommender.load(tmp_path).recommend(["u1_1"], k=5, tags={"u1_1": ["golden binder"]}, beta=0.0)
    assert (before.item_ids == after.item_ids).all()


def test_item_tower_reads_only_the_chosen_features(dataset):
    """An id-free item tower still learns the planted clusters from category and brand alone."""
    config = TARConfig(**(SMALL | {"item_features": ["category", "brand"]}))
    model = TARRecommender(config).fit(dataset, "test")
    assert set(model.net.item_tower.embeddings) == {"category", "brand"}
    recs = model.recommend(["u0_0"], k=3, beta=1.0)
    assert all(i.startswith("i0_") for i in recs.item_ids[0])
    with pytest.raises(ValueError, match="item_features"):
        TARConfig(item_features=["colour"])
    with pytest.raises(ValueError, match="item_features"):
        TARConfig(item_features=[])


def test_cosine_schedule_decays_the_rate_to_zero():
    import torch

    from recgpt.retrieval.train import set_learning_rate

    optim = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    config = TARConfig(lr=0.01, epochs=10, lr_schedule="cosine")
    rates = []
    for progress in (0.0, 5.0, 10.0):
        set_learning_rate([optim], config, progress)
        rates.append(optim.param_groups[0]["lr"])
    assert rates == pytest.approx([0.01, 0.005, 0.0], abs=1e-12)
    set_learning_rate([optim], TARConfig(lr=0.01, epochs=10), 7.5)
    assert optim.param_groups[0]["lr"] == 0.01


def test_position_batches_hold_equal_positions_of_similar_lengths():
    """Every user once per epoch; each batch about batch_size x mean positions; lengths sorted into buckets."""
    from recgpt.retrieval.train import position_batches

    rng = np.random.default_rng(0)
    positions = np.concatenate([np.full(300, 2), np.full(60, 10), np.full(12, 50)])
    rows = np.arange(len(positions))
    batches = position_batches(positions, rows, 40, rng)
    assert sorted(np.concatenate(batches).tolist()) == rows.tolist()
    budget = 40 * positions.sum() / len(positions)
    sums = np.array([positions[b].sum() for b in batches])
    assert len(batches) == round(positions.sum() / budget)
    # off by less than one user's positions, plus the remainder of the rounded batch count in the last one
    assert np.all(np.abs(sums - budget) < positions.max() + budget / 2)
    assert np.sum(np.abs(sums - budget) >= positions.max()) <= 1
    assert sum(len(set(positions[b])) > 1 for b in batches) <= 2  # only the batches at a bucket boundary mix
    users_per_batch = sorted(len(b) for b in batches)
    assert users_per_batch[0] <= 5 and users_per_batch[-1] >= 90  # long users in small batches, short in big


class Killed(Exception):
    pass


class Epochs:
    """A progress callback that records the epochs reported and raises Killed once ``kill_at`` is reached."""

    def __init__(self, kill_at: int | None = None):
        self.kill_at, self.done = kill_at, []

    def __call__(self, task, done, total=None, **info):
        self.done.append(done)
        if done == self.kill_at:
            raise Killed


def test_a_killed_training_resumes_where_it_stopped(dataset, tmp_path, caplog):
    """Killed after epoch 3 of 6, the second fit starts at epoch 4 and ends exactly where one whole fit ends."""
    config = TARConfig(**(SMALL | {"epochs": 6, "eval_every": 2, "patience": 10, "dropout": 0.2}))
    whole = TARRecommender(config).fit(dataset, "test")
    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(Killed):
        TARRecommender(config).fit(dataset, "test", checkpoint=checkpoint, progress=Epochs(kill_at=3))
    assert checkpoint.exists()
    epochs = Epochs()
    with caplog.at_level("INFO", logger="recgpt.retrieval"):
        resumed = TARRecommender(config).fit(dataset, "test", checkpoint=checkpoint, progress=epochs)
    assert "resuming retriever training after epoch 3" in caplog.text
    assert epochs.done == [3, 4, 5, 6]
    assert [r["epoch"] for r in resumed.training_log] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(whole.training_log, resumed.training_log):
        assert (a["l_col"], a["l_tag"], a.get("dev")) == (b["l_col"], b["l_tag"], b.get("dev"))
    np.testing.assert_array_equal(whole.item_vectors(), resumed.item_vectors())
    assert not checkpoint.exists(), "a finished training leaves no checkpoint behind"


def test_a_checkpoint_of_another_configuration_is_not_loaded(dataset, tmp_path, caplog):
    config = TARConfig(**(SMALL | {"epochs": 4, "eval_every": 0}))
    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(Killed):
        TARRecommender(config).fit(dataset, "test", checkpoint=checkpoint, progress=Epochs(kill_at=2))
    epochs = Epochs()
    other = config.model_copy(update={"lr": 0.005})
    TARRecommender(other).fit(dataset, "test", checkpoint=checkpoint, progress=epochs)
    assert epochs.done == [0, 1, 2, 3, 4]
    checkpoint.write_bytes(b"not a checkpoint")
    with caplog.at_level("WARNING", logger="recgpt.retrieval"):
        TARRecommender(config).fit(dataset, "test", checkpoint=checkpoint)
    assert "ignoring unreadable retriever checkpoint" in caplog.text


def write_legacy(model: TARRecommender, folder, rename: dict[str, str]) -> None:
    """The files recgpt 0.1 wrote: config.yaml and a pickled model.pt (state names of older layouts)."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(model.config.to_yaml())
    state = {}
    for key, value in model.net.state_dict().items():
        for new, old in rename.items():
            key = key.replace(new, old)
        state[key] = value
    torch.save({"state": state, "catalog": model.catalog.__dict__ | {}, "train_users": model.train_users,
                "popularity": model.popularity, "history": model.history.__dict__ | {},
                "training_log": model.training_log}, folder / "model.pt")


def test_a_legacy_pickled_model_is_refused_then_converted_without_running_pickles(model, tmp_path):
    from recgpt.retrieval.convert import convert_legacy_model

    rename = {"embeddings.id.": "item_emb.", "embeddings.category.": "cat_emb.", "category_code": "category",
              "popularity_code": "pop_bucket"}
    write_legacy(model, tmp_path / "old", rename)
    with pytest.raises(SavedModelError, match="recgpt convert-run"):
        load_model(tmp_path / "old")
    convert_legacy_model(tmp_path / "old")
    assert not (tmp_path / "old" / "model.pt").exists()
    loaded = load_model(tmp_path / "old")
    assert (loaded.recommend(["u0_0"], 5).item_ids == model.recommend(["u0_0"], 5).item_ids).all()


def test_a_pickle_that_would_run_code_is_refused_by_the_converter(model, tmp_path):
    import os

    import torch

    from recgpt.retrieval.convert import convert_legacy_model

    class Exploit:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    write_legacy(model, tmp_path / "bad", {})
    torch.save({"state": {}, "payload": Exploit()}, tmp_path / "bad" / "model.pt")
    with pytest.raises(SavedModelError, match="can read safely .*posix.system"):
        convert_legacy_model(tmp_path / "bad")
    assert not (tmp_path / "pwned").exists()


def test_subnormals_flushed_before_the_first_parallel_operation_reach_every_worker():
    """`recgpt run` and `recgpt train-retriever` flush subnormal floats to zero before any parallel operation
    (late epochs ran up to twice as slow without): every OpenMP worker created afterwards has the flags.
    In a fresh process, as the commands do."""
    import subprocess
    import sys

    script = (
        "import torch\n"
        "from recgpt.retrieval.train import flush_subnormals\n"
        "torch.set_num_threads(2)\n"
        "assert flush_subnormals()\n"
        "x = torch.full((4_000_000,), 1e-40)\n"  # below float32's smallest normal number, split over the workers
        "print(int((x * 1.0).count_nonzero()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if done.returncode != 0 and "AssertionError" in done.stderr:
        pytest.skip("this CPU cannot flush subnormals")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0"
