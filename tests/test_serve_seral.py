"""The SERAL serendipity channel served by the recommendation API: the reserved slots at the end of a run user's
list come from the nearline job's cached judgments (final_lists over the served list), marked with their
judgment; stale judgments (an older profile version) are not served; quota 0 and a run without judgments
serve the plain lists."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from serve_helpers import KEY, tiny_run
from test_serve_reload import serve

from recgpt.data.store import load_dataset
from recgpt.runfolder import RunFolder
from recgpt.seral.channel import JudgmentCache, final_lists
from recgpt.seral.config import ChannelConfig, SeralConfig
from recgpt.seral.records import Judgment
from recgpt.seral.runner import run_channel
from recgpt.serve.app import create_app
from recgpt.serve.config import ServeConfig
from recgpt.serve.reload import StateHolder
from recgpt.serve.serendipity import current_versions, served_seral_config

H = {"X-API-Key": KEY}
CONFIG = ServeConfig(watch_interval_s=0, default_k=10, warm_users=0)
SCORER = "popular-new.v1"
#: u0_0's hand-written judgments (cluster 0's user: the other clusters' categories are new to it)
MINE = [("i3_9", 0.9, "a lamp for the desk you never thought of"), ("i2_9", 0.8, "staplers go with notebooks"),
        ("i1_9", 0.7, "azure paper, a new colour"), ("i2_8", 0.2, "not for this user")]


@pytest.fixture(scope="module")
def channel_run(tmp_path_factory):
    """A copy of the tiny serving run after `recgpt seral channel` (popular-new.v1, 2 of 10 slots), with u0_0's
    judgments replaced by MINE (one of them an item of u0_0's history) and u1_0's made for an older profile."""
    root = tiny_run(tmp_path_factory.mktemp("seral") / "run")
    run = RunFolder(root)
    dataset = load_dataset(run.data)
    out = run_channel(run, dataset, SeralConfig.from_dict({"channel": {"list_size": 10, "quota": 2, "per_user": 4}}))
    assert out["config"]["channel"]["quota"] == 2 and out["refresh"]["refreshed"] > 2
    version = current_versions(run, dataset, served_seral_config(run), ["u0_0"])["u0_0"]
    history_item = dataset.events.filter(dataset.events.column("user_id").to_numpy(zero_copy_only=False)
                                         == "u0_0").column("item_id")[0].as_py()
    mine = [Judgment("u0_0", version, item, SCORER, score, "yes" if score >= 0.5 else "no", reason)
            for item, score, reason in MINE + [(history_item, 0.95, "already bought")]]
    cache = JudgmentCache(run.seral_judgments)
    cache.replace("u0_0", SCORER, version, mine)
    stale = cache.judgments("u1_0", SCORER)
    cache.replace("u1_0", SCORER, "an-older-version", stale)
    users = len(cache.versions(SCORER))
    cache.close()
    return root, users, history_item


def _client(root, **settings) -> TestClient:
    return TestClient(create_app(root, CONFIG.model_copy(update=settings), key=KEY), raise_server_exceptions=False)


def _plain(root, user: str, k: int = 10) -> list[str]:
    """The user's list with the channel off (quota 0)."""
    with _client(root, seral_quota=0) as client:
        answer = client.get(f"/v1/users/{user}/recommendations", params={"k": k}, headers=H).json()
    assert answer["serendipity_channel"] == "off"
    assert all(it["channel"] == "base" and it["serendipity"] is None for it in answer["items"])
    return [it["item_id"] for it in answer["items"]]


def test_a_served_list_ends_with_the_quotas_serendipitous_items_marked(channel_run):
    root, users, history_item = channel_run
    base = _plain(root, "u0_0")
    app = create_app(root, CONFIG, key=KEY)
    server, thread, url = serve(app)
    try:
        with httpx.Client(base_url=url, headers=H, timeout=10) as client:
            answer = client.get("/v1/users/u0_0/recommendations", params={"k": 10}).json()
            info = client.get("/v1/run").json()["serendipity"]
            batch = client.post("/v1/recommendations/batch", json={"user_ids": ["u0_0", "u1_0"], "k": 10}).json()
            single_u1 = client.get("/v1/users/u1_0/recommendations", params={"k": 10}).json()
    finally:
        server.should_exit = True
        thread.join(10)
    assert answer["serendipity_channel"] == "served"
    items = answer["items"]
    judged = [Judgment("u0_0", "", item, SCORER, score, "", reason) for item, score, reason in MINE]
    expected = final_lists({"u0_0": base}, {"u0_0": judged}, ChannelConfig(list_size=10, quota=2, min_score=0.5))
    assert [(it["item_id"], it["channel"]) for it in items] == [(s.item_id, s.channel) for s in expected]
    assert [it["rank"] for it in items] == list(range(1, 11))
    assert items[:8] == [it for it in items if it["channel"] == "base"][:8]
    assert [it["item_id"] for it in items[:8]] == base[:8]  # the base retriever's top k - quota, as served
    reasons = {item: reason for item, _, reason in MINE}
    tail = items[8:]
    assert [it["channel"] for it in tail] == ["serendipity", "serendipity"]
    for it in tail:
        assert it["serendipity"]["reason"] == reasons[it["item_id"]] and it["serendipity"]["scorer"] == SCORER
        assert it["retrieved_by"]["source"] == "serendipity" and it["score"] == it["serendipity"]["score"] >= 0.5
    assert history_item not in [it["item_id"] for it in items]  # history excluded, its judgment too
    assert info == {"on": True, "scorer": SCORER, "quota": 2, "min_score": 0.5, "users": users - 1,
                    "stale_users": 1}
    assert batch["results"][0] == answer and batch["results"][1] == single_u1


def test_a_user_whose_profile_changed_gets_no_stale_channel_items(channel_run):
    root, _, _ = channel_run
    with _client(root) as client:
        answer = client.get("/v1/users/u1_0/recommendations", params={"k": 10}, headers=H).json()
    assert answer["serendipity_channel"] == "stale"
    with _client(root) as client:
        page = client.get("/ui", params={"user": "u0_0", "k": 10}, headers=H).text
    assert page.count('class="pill serendipity"') == 2 and MINE[0][2] in page  # the page marks the slots
    assert all(it["channel"] == "base" for it in answer["items"])
    assert [it["item_id"] for it in answer["items"]] == _plain(root, "u1_0")


def test_quota_zero_turns_the_channel_off_and_a_quota_is_capped_by_k(channel_run):
    root, _, _ = channel_run
    with _client(root, seral_quota=0) as client:
        assert client.get("/v1/run", headers=H).json()["serendipity"]["on"] is False
    assert len(_plain(root, "u0_0")) == 10
    with _client(root, seral_quota=5) as client:
        assert client.get("/v1/run", headers=H).json()["serendipity"]["quota"] == 5
        three = client.get("/v1/users/u0_0/recommendations", params={"k": 3}, headers=H).json()["items"]
    assert [it["channel"] for it in three] == ["serendipity"] * 3  # min(quota, k) slots: every one here
    assert [it["item_id"] for it in three] == ["i3_9", "i2_9", "i1_9"]


def test_a_run_without_judgments_serves_exactly_as_before(channel_run):
    root, _, _ = channel_run
    with _client(tiny_run()) as client:
        assert client.get("/v1/run", headers=H).json()["serendipity"] == {
            "on": False, "scorer": None, "quota": 0, "min_score": None, "users": 0, "stale_users": 0}
        for user in ("u0_0", "u1_0", "u2_3"):
            answer = client.get(f"/v1/users/{user}/recommendations", params={"k": 10}, headers=H).json()
            assert answer["serendipity_channel"] == "off"
            assert [it["item_id"] for it in answer["items"]] == _plain(root, user)
            assert all(it["channel"] == "base" and it["retrieved_by"]["source"] != "serendipity"
                       for it in answer["items"])


def test_new_judgments_make_the_run_reload(channel_run, tmp_path):
    import shutil

    root = tmp_path / "run"
    shutil.copytree(channel_run[0], root)
    holder = StateHolder(root, CONFIG)
    assert not holder.changed()  # loading does not touch the judgments file
    before = holder.current.summary()["serendipity"]
    run = RunFolder(root)
    cache = JudgmentCache(run.seral_judgments)
    version = current_versions(run, load_dataset(run.data), served_seral_config(run), ["u1_0"])["u1_0"]
    cache.replace("u1_0", SCORER, version, [Judgment("u1_0", version, "i3_9", SCORER, 0.9, "yes", "refreshed")])
    cache.close()
    assert holder.changed() and holder.reload()[0]
    after = holder.current.summary()["serendipity"]
    assert (after["users"], after["stale_users"]) == (before["users"] + 1, 0)


def test_posted_events_of_a_run_user_get_the_channel_without_the_categories_they_touch(channel_run):
    """POST /v1/recommendations with a run user's fresh events: the reserved slots come from the user's cached
    judgments, less those of the posted items' categories (no longer unexpected); an anonymous list has none."""
    root, _, _ = channel_run
    body = {"user_id": "u0_0", "events": [{"item_id": "i3_0", "behavior": "click", "timestamp": 10**10}], "k": 10}
    with _client(root, seral_quota=0) as client:
        plain = client.post("/v1/recommendations", json=body, headers=H).json()
    with _client(root) as client:
        answer = client.post("/v1/recommendations", json=body, headers=H).json()
        anonymous = client.post("/v1/recommendations", json={**body, "user_id": None}, headers=H).json()
    assert answer["serendipity_channel"] == "served"
    base = [it["item_id"] for it in plain["items"]]
    judged = [Judgment("u0_0", "", item, SCORER, score, "", reason) for item, score, reason in MINE
              if not item.startswith("i3_")]  # i3_0's category: its judgment (the best one) is left out
    expected = final_lists({"u0_0": base}, {"u0_0": judged}, ChannelConfig(list_size=10, quota=2, min_score=0.5))
    assert [(it["item_id"], it["channel"]) for it in answer["items"]] == [(s.item_id, s.channel) for s in expected]
    reserved = [it["item_id"] for it in answer["items"] if it["channel"] == "serendipity"]
    assert reserved and reserved[0] == "i2_9"  # the best judgment left once i3_9's is dropped
    assert anonymous["serendipity_channel"] == "no_judgments"
    assert all(it["channel"] == "base" for it in anonymous["items"])
