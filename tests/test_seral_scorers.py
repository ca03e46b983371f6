"""Seral scorers: the shared contract, candidate sets, and Hit@1 / NDCG@3 with ties counted fairly."""

from __future__ import annotations

import json
import math

import pytest
from seral_helpers import tiny_dataset
from suites.seral_scorer import SeralScorerContract

from recgpt import registry
from recgpt.llm.fake import FakeBackend
from recgpt.runfolder import RunFolder
from recgpt.seral.candidates import candidate_sets
from recgpt.seral.config import CandidatesConfig, SeralConfig
from recgpt.seral.evaluate import expected_hit_ndcg, offline_metrics
from recgpt.seral.profiles import build_profiles
from recgpt.seral.runner import context_of, evaluate_offline
from recgpt.seral.truth import label_targets


@pytest.fixture
def tiny():
    return tiny_dataset()


def says_yes_to(category: str):
    """A scripted SerenGPT: "yes" exactly for items of ``category``."""
    def answer(prompt: str) -> str:
        verdict = "yes" if f"(category: {category})" in prompt else "no"
        return json.dumps({"reason": f"category {category}" if verdict == "yes" else "not new", "verdict": verdict})
    return answer


class TestPopularNew(SeralScorerContract):
    def build(self, context):
        return registry.seral_scorers.get("popular-new.v1").build(context)


class TestRandom(SeralScorerContract):
    def build(self, context):
        return registry.seral_scorers.get("random.v1").build(context)


class TestSerenGPT(SeralScorerContract):
    def build(self, context):
        context.config = SeralConfig.from_dict({"serengpt": {"llm": {"backend": "fake", "progress": False}}})
        context.backend = FakeBackend(says_yes_to("B"))
        return registry.seral_scorers.get("serengpt.v1").build(context)


@pytest.fixture(scope="module")
def embedded_fp32():
    pytest.importorskip("transformers")
    from recgpt.llm.torch_backend import TorchBackend

    backend = TorchBackend(dtype="float32", threads=2)
    yield backend
    backend.close()


class TestSerenGPTPreference(SeralScorerContract):
    """serengpt-pref.v1 on the real embedded model (teacher-forced log-probabilities, no sampling)."""

    @pytest.fixture(autouse=True)
    def _model(self, embedded_fp32):
        self.backend = embedded_fp32

    def build(self, context):
        context.backend = self.backend
        return registry.seral_scorers.get("serengpt-pref.v1").build(context)

    def setup(self, dataset, run=None):
        scorer, pairs = super().setup(dataset, run)
        return scorer, pairs[:4]  # two forward passes of a 300-token prompt each: the contract, kept small


class ScriptedPreferences:
    """A backend that scores answers: the "yes" answer is likelier by 2 nats exactly for category B."""

    def __init__(self):
        self.asked = []

    def answer_logprobs(self, prompt, answers):
        self.asked.append((prompt, answers))
        return [-1.0, -3.0] if "(category: B)" in prompt else [-3.0, -1.0]

    def close(self):
        pass


def test_preference_scores_are_the_probability_of_yes_between_the_two_trained_answers(tiny):
    context = context_of(None, tiny, SeralConfig())
    context.backend = ScriptedPreferences()
    profile = {p.user_id: p for p in build_profiles(tiny, "test", context.category, SeralConfig().profile)}["u1"]
    scorer = registry.seral_scorers.get("serengpt-pref.v1").build(context)
    b1, a2 = scorer.score([(profile, "b1"), (profile, "a2")])
    assert b1.score == pytest.approx(1 / (1 + math.exp(-2))) and b1.verdict == "yes"
    assert b1.reason == "B is new to the user and fits their interests"
    assert a2.score == pytest.approx(1 / (1 + math.exp(2))) and a2.verdict == "no"
    assert a2.reason == "the user already buys A"  # u1's familiar category: the familiar "no" of the pairs
    prompt, answers = context.backend.asked[0]
    assert "(category: B)" in prompt and [json.loads(a)["verdict"] for a in answers] == ["yes", "no"]


def test_preference_scoring_needs_a_backend_that_scores_answers(tiny):
    context = context_of(None, tiny, SeralConfig())
    context.backend = FakeBackend(says_yes_to("B"))
    with pytest.raises(ValueError, match="scores given answers"):
        registry.seral_scorers.get("serengpt-pref.v1").build(context)


def test_popular_new_puts_every_new_category_above_every_familiar_one(tiny):
    context = context_of(None, tiny, SeralConfig())
    profile = {p.user_id: p for p in build_profiles(tiny, "test", context.category, SeralConfig().profile)}["u1"]
    scores = {j.item_id: j for j in registry.seral_scorers.get("popular-new").build(context).score(
        [(profile, i) for i in ("a1", "a2", "b1", "b2", "d1")])}
    assert scores["a1"].verdict == "no" and scores["b1"].verdict == "yes"
    assert max(scores["a1"].score, scores["a2"].score) < min(scores["b1"].score, scores["d1"].score)
    assert scores["b2"].score > scores["b1"].score > scores["d1"].score == 0.5  # popularity 2 > 1 > 0


def test_candidate_sets_hold_the_target_once_and_only_never_touched_categories(tiny):
    config = SeralConfig()
    context = context_of(None, tiny, config)
    profiles = {p.user_id: p for p in build_profiles(tiny, "test", context.category, config.profile)}
    rows = candidate_sets(label_targets(tiny, "test"), profiles, context.category, CandidatesConfig(size=4))
    assert {r.user_id for r in rows} == {"u1"}  # the only serendipitous next item
    assert [(r.item_id, r.is_target, r.source) for r in rows if r.is_target] == [("b1", True, "target")]
    assert len(rows) == 4 and len({r.item_id for r in rows}) == 4
    assert all(r.category != "A" for r in rows)
    assert sum(r.source == "neighbour" for r in rows) >= 1  # neighbours B, C come first
    again = candidate_sets(label_targets(tiny, "test"), profiles, context.category, CandidatesConfig(size=4))
    assert again == rows


def test_ties_count_as_a_random_order_would():
    assert expected_hit_ndcg(1.0, [0.0, 0.0]) == (1.0, 1.0)
    assert expected_hit_ndcg(0.0, [1.0, 1.0, 1.0]) == (0.0, 0.0)  # rank 3: outside NDCG@3
    hit, ndcg = expected_hit_ndcg(0.0, [0.0, 0.0])
    assert hit == pytest.approx(1 / 3) and ndcg == pytest.approx((1 + 1 / math.log2(3) + 0.5) / 3)


def test_offline_evaluation_of_a_scripted_serengpt_has_the_known_answer(tiny, tmp_path):
    """The scripted model says yes to category B only: the real item b1 ties with the other B item of its set
    and beats the rest, so Hit@1 = 1/2 (b2 in the set) or 1 (it is not)."""
    run = RunFolder(tmp_path / "run")
    config = SeralConfig.from_dict({"candidates": {"size": 4},
                                    "serengpt": {"llm": {"backend": "fake", "progress": False}}})
    from recgpt.data.store import save_dataset

    save_dataset(tiny, run.data)
    out = evaluate_offline(run, tiny, config, ["serengpt.v1", "popular-new.v1"], backend=FakeBackend(says_yes_to("B")))
    import pyarrow.parquet as pq

    items = pq.read_table(run.seral_candidates).column("item_id").to_pylist()
    expected = 0.5 if "b2" in items else 1.0
    assert out["scorers"]["serengpt.v1"]["hit@1"] == pytest.approx(expected)
    assert out["scorers"]["serengpt.v1"]["users"] == 1
    assert json.loads(run.seral_offline.read_text()) == out
    # popular-new: every candidate is new; b1 (1 interaction) is beaten by b2 (2) and ties c1 / c2 (1 each)
    pops = {"b2": 2, "c1": 1, "c2": 1, "d1": 0}
    above = sum(pops[i] > 1 for i in items if i != "b1")
    tied = sum(pops[i] == 1 for i in items if i != "b1")
    assert out["scorers"]["popular-new.v1"]["hit@1"] == pytest.approx(0.0 if above else 1 / (tied + 1))


def test_evaluations_of_the_same_candidate_sets_accumulate_and_an_adapter_names_its_row(tiny, tmp_path):
    run = RunFolder(tmp_path / "run")
    evaluate_offline(run, tiny, SeralConfig.from_dict({"candidates": {"size": 4}}), ["popular-new.v1"])
    adapter = str(tmp_path / "models" / "serengpt-ipo" / "adapter")
    aligned = SeralConfig.from_dict({"candidates": {"size": 4}, "serengpt": {"adapter": adapter}})
    out = evaluate_offline(run, tiny, aligned, ["serengpt-pref.v1"], backend=ScriptedPreferences())
    assert set(out["scorers"]) == {"popular-new.v1", "serengpt-pref.v1 + serengpt-ipo"}
    assert out["scorers"]["serengpt-pref.v1 + serengpt-ipo"]["adapter"] == adapter
    assert out["scorers"]["serengpt-pref.v1 + serengpt-ipo"]["hit@1"] > 0  # b1 scored by the scripted model
    other = SeralConfig.from_dict({"candidates": {"size": 3}})  # other sets: the earlier rows do not carry over
    assert set(evaluate_offline(run, tiny, other, ["random.v1"])["scorers"]) == {"random.v1"}


def test_offline_metrics_skip_a_set_without_exactly_one_target():
    from recgpt.seral.records import Candidate, Judgment

    rows = [Candidate("u", "x", "C", "target", True), Candidate("u", "y", "C", "new", False)]
    judged = [Judgment("u", "v", "x", "s", 0.9, "yes"), Judgment("u", "v", "y", "s", 0.1, "no")]
    assert offline_metrics(rows, judged)["hit@1"] == 1.0
    assert offline_metrics(rows[1:], judged[1:])["users"] == 0


def test_a_run_evaluated_at_another_granularity_never_reads_the_earlier_tables(tiny, tmp_path):
    from recgpt.data.store import save_dataset
    from recgpt.seral.records import SerendipityLabel, read_records

    run = RunFolder(tmp_path / "run")
    save_dataset(tiny, run.data)
    leaf = evaluate_offline(run, tiny, SeralConfig.from_dict({"granularity": "leaf"}), ["random.v1"])
    category = evaluate_offline(run, tiny, SeralConfig(), ["random.v1"])
    assert (leaf["candidates"]["sets"], category["candidates"]["sets"]) == (3, 1)  # u1, u2, u5 against u1 only
    assert sum(lab.serendipitous for lab in read_records(run.seral_truth, SerendipityLabel)) == 1
