"""The nearline serendipity channel: the quota of the final list, and a judgment cache that a profile change
invalidates for exactly that user."""

from __future__ import annotations

import json

import pyarrow as pa
from seral_helpers import tiny_dataset

from recgpt.data.dataset import Dataset
from recgpt.data.store import save_dataset
from recgpt.llm.fake import FakeBackend
from recgpt.runfolder import RunFolder
from recgpt.seral.candidates import items_by_category
from recgpt.seral.channel import CandidatePool, JudgmentCache, channel_metrics, final_lists, refresh
from recgpt.seral.config import ChannelConfig, SeralConfig
from recgpt.seral.profiles import build_profiles
from recgpt.seral.records import Judgment
from recgpt.seral.runner import context_of, run_channel
from recgpt.seral.scorers import build_scorer
from recgpt.seral.truth import label_targets


def _j(user, item, score):
    return Judgment(user, "v", item, "s", score, "yes" if score >= 0.5 else "no")


def test_the_final_list_reserves_the_quota_for_the_best_serendipitous_candidates():
    base = {"u": [f"i{n}" for n in range(8)], "w": [f"i{n}" for n in range(8)]}
    judged = {"u": [_j("u", "x1", 0.9), _j("u", "i1", 0.8), _j("u", "x2", 0.7), _j("u", "x3", 0.6)],
              "w": [_j("w", "x1", 0.4)]}  # below min_score: w's reserved slots go back to the base list
    slots = final_lists(base, judged, ChannelConfig(list_size=5, quota=2))
    u = [(s.rank, s.item_id, s.channel) for s in slots if s.user_id == "u"]
    assert u == [(0, "i0", "base"), (1, "i1", "base"), (2, "i2", "base"), (3, "x1", "serendipity"),
                 (4, "x2", "serendipity")]  # i1 is already listed, so x2 takes the second reserved slot
    w = [(s.item_id, s.channel) for s in slots if s.user_id == "w"]
    assert w == [(f"i{n}", "base") for n in range(5)]
    none = final_lists(base, judged, ChannelConfig(list_size=5, quota=0))
    assert [s.item_id for s in none if s.user_id == "u"] == [f"i{n}" for n in range(5)]


def test_channel_candidates_come_from_neighbouring_then_other_never_touched_categories():
    dataset = tiny_dataset()
    context = context_of(None, dataset, SeralConfig())
    u1 = {p.user_id: p for p in build_profiles(dataset, "test", context.category, SeralConfig().profile)}["u1"]
    pool = CandidatePool(items_by_category(context.category), context.popularity)
    # neighbours B then C, one per category in turn, most popular first; then D; never A (familiar)
    assert pool.of(u1, 10) == ["b2", "c1", "b1", "c2", "d1"]
    assert pool.of(u1, 2) == ["b2", "c1"]
    # a retriever's list comes first, its familiar-category items (a1) left out, at most retrieved_limit
    assert pool.of(u1, 3, ["a1", "d1", "c2"], 1) == ["d1", "b2", "c1"]
    assert pool.of(u1, 10, ["a1", "d1", "c2"], 2) == ["d1", "c2", "b2", "c1", "b1"]


def _with_extra_event(dataset: Dataset, user: str, item: str) -> Dataset:
    extra = pa.Table.from_pylist([{"user_id": user, "item_id": item, "behavior": "purchase", "timestamp": 150}],
                                 schema=dataset.events.schema)
    return Dataset(dataset.name, dataset.items, dataset.users, pa.concat_tables([dataset.events, extra]),
                   dataset.searches, dataset.holdout)


def test_a_profile_change_invalidates_exactly_that_users_cached_judgments(tmp_path):
    config = SeralConfig.from_dict({"serengpt": {"llm": {"backend": "fake", "progress": False}}})
    backend = FakeBackend(lambda prompt: json.dumps({"reason": "new",
                                                     "verdict": "yes" if "item d1" in prompt else "no"}))
    cache = JudgmentCache(tmp_path / "judgments.sqlite")

    def job(dataset):
        context = context_of(None, dataset, config, backend)
        profiles = build_profiles(dataset, "test", context.category, config.profile)
        pool = CandidatePool(items_by_category(context.category), context.popularity)
        scorer = build_scorer("serengpt.v1", context)
        return refresh(cache, profiles, scorer, lambda p: pool.of(p, 3))

    first = job(tiny_dataset())
    assert first == {"users": 6, "refreshed": 6, "kept": 0, "judgments": backend.calls}
    before = {row for row in cache.rows()}
    calls = backend.calls
    assert job(tiny_dataset())["refreshed"] == 0 and backend.calls == calls  # nothing changed: no LLM call
    changed = _with_extra_event(tiny_dataset(), "u5", "c1")  # u5 now has touched C
    second = job(changed)
    assert (second["refreshed"], second["kept"]) == (1, 5)
    assert backend.calls - calls == second["judgments"] == 3
    after = set(cache.rows())
    assert {r for r in before if r[0] != "u5"} == {r for r in after if r[0] != "u5"}
    u5_before = {r for r in before if r[0] == "u5"}
    u5_after = {r for r in after if r[0] == "u5"}
    assert u5_before and u5_after and not u5_before & u5_after  # old version gone, new one in
    assert len({r[2] for r in u5_after}) == 1 and all(r[3] != "c1" for r in u5_after)  # C is familiar now
    cache.close()


def test_the_channel_job_writes_lists_and_figures_with_and_without_it(tmp_path):
    run = RunFolder(tmp_path / "run")
    dataset = tiny_dataset()
    save_dataset(dataset, run.data)
    config = SeralConfig.from_dict({"channel": {"list_size": 3, "quota": 1, "per_user": 4}})
    out = run_channel(run, dataset, config)
    assert out["refresh"]["refreshed"] == 5 and run.seral_channel.exists() and run.seral_judgments.exists()
    assert out["with"]["users"] == out["without"]["users"] == 5
    assert out["with"]["exposure_ratio"] >= out["without"]["exposure_ratio"]
    assert json.loads(run.seral_channel_metrics.read_text()) == out
    again = run_channel(run, dataset, config)
    assert again["refresh"]["refreshed"] == 0 and again["with"] == out["with"]


def test_channel_metrics_count_new_category_slots_and_serendipitous_hits():
    dataset = tiny_dataset()
    context = context_of(None, dataset, SeralConfig())
    profiles = {p.user_id: p for p in build_profiles(dataset, "test", context.category, SeralConfig().profile)}
    labels = label_targets(dataset, "test")
    base = {"u1": ["a1", "a2"], "u2": ["a2", "b2"]}
    from recgpt.seral.records import ChannelSlot

    slots = [ChannelSlot("u1", 0, "a1", "base", 0), ChannelSlot("u1", 1, "b1", "serendipity", 1),
             ChannelSlot("u2", 0, "a2", "base", 0), ChannelSlot("u2", 1, "d1", "serendipity", 1)]
    out = channel_metrics(slots, base, labels, profiles, context.category, 2)
    assert out["without"] == {"users": 2, "exposure_ratio": 0.0, "serendipity_hit@2": 0.0, "recall@2": 0.5,
                              "serendipitous_users": 1}
    assert out["with"] == {"users": 2, "exposure_ratio": 0.5, "serendipity_hit@2": 1.0, "recall@2": 1.0,
                           "serendipitous_users": 1}


def test_the_channel_takes_tags_only_retrieval_candidates_when_the_run_has_a_retriever(tmp_path):
    from recgpt.retrieval.config import TARConfig
    from recgpt.retrieval.synthetic import PLANTED_TAR_SETTINGS
    from recgpt.retrieval.tar import TARRecommender
    from recgpt.seral.runner import tag_retrieval

    run = RunFolder(tmp_path / "run")
    dataset = tiny_dataset()
    save_dataset(dataset, run.data)
    assert tag_retrieval(run, ["u1"], 5) == {}  # no retriever: neighbours only
    settings = PLANTED_TAR_SETTINGS | {"epochs": 2}
    TARRecommender(TARConfig(**settings)).fit(dataset.train_plus_dev(), "test").save(run.retriever)
    retrieved = tag_retrieval(run, ["u1", "u3"], 5)
    assert set(retrieved) == {"u1", "u3"} and all(retrieved.values())
    assert not {"a1", "a2"} & set(retrieved["u1"])  # the history is excluded
    config = SeralConfig.from_dict({"channel": {"list_size": 3, "quota": 1, "per_user": 2, "tag_share": 0.5}})
    out = run_channel(run, dataset, config)
    assert out["tag_retrieval"] is True
    cache = JudgmentCache(run.seral_judgments)
    u1 = {j.item_id for j in cache.judgments("u1", "popular-new.v1")}
    cache.close()
    first_new = next(i for i in retrieved["u1"] if i[0] != "a")  # u1 touched only category A
    assert first_new in u1 and len(u1) == 2


def test_the_report_section_shows_the_offline_and_channel_figures(tmp_path):
    from recgpt.pipeline.report_seral import seral_blocks

    assert seral_blocks(None, None) == []
    run = RunFolder(tmp_path / "run")
    dataset = tiny_dataset()
    save_dataset(dataset, run.data)
    from recgpt.seral.runner import evaluate_offline

    offline = evaluate_offline(run, dataset, SeralConfig.from_dict({"candidates": {"size": 3}}), ["random.v1"])
    channel = run_channel(run, dataset, SeralConfig.from_dict({"channel": {"list_size": 3, "quota": 1}}))
    blocks = seral_blocks(offline, channel)
    tables = [b for b in blocks if hasattr(b, "rows")]
    assert tables[0].rows[0][:2] == ["random.v1", "1"]
    assert [row[0] for row in tables[1].rows] == ["exposure ratio (new-category slots)",
                                                  "serendipity hit rate @3", "Recall@3"]
    assert tables[1].rows[0][1:] == [f"{channel['without']['exposure_ratio']:.4f}",
                                     f"{channel['with']['exposure_ratio']:.4f}"]
