"""The serving API against a tiny finished run (planted data, no LLM): every endpoint, the explanation lookup,
the key, the limits and bad input (never a 500)."""

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from serve_helpers import HOSTILE, KEY, tiny_run

from recgpt.errors import MissingInputError
from recgpt.serve.app import create_app, openapi_document
from recgpt.serve.config import ServeConfig

H = {"X-API-Key": KEY}
CONFIG = ServeConfig(watch_interval_s=0, max_k=30, default_k=10, max_events=50, max_batch_users=8,
                     max_body_bytes=4096)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(tiny_run(), CONFIG, key=KEY), raise_server_exceptions=False) as c:
        yield c


def test_lists_equal_the_retrievers_own_fused_recommend_and_name_their_query(client):
    """The engine's shortcut (cached vectors, one search) gives TARRecommender.recommend's lists exactly."""
    from recgpt.data.store import load_dataset
    from recgpt.retrieval.fusion import load_tag_table
    from recgpt.retrieval.saved import load_model
    from recgpt.runfolder import RunFolder

    run = RunFolder(tiny_run())
    model = load_model(run.retriever)
    model.use_history(load_dataset(run.data), None)
    tags = load_tag_table(run.tags)
    users = ["u0_0", "u1_0", "u2_3", "u3_7"]
    for beta in (0.0, 0.5, 1.0):
        expected = model.recommend(users, 12, tags=tags, beta=beta)
        for row, user in enumerate(users):
            got = client.get(f"/v1/users/{user}/recommendations", params={"k": 12, "beta": beta}, headers=H).json()
            assert [i["item_id"] for i in got["items"]] == list(expected.item_ids[row]), (user, beta)
            np.testing.assert_allclose([i["score"] for i in got["items"]], expected.scores[row], rtol=1e-5)
            sources = {i["retrieved_by"]["source"] for i in got["items"]}
            if beta == 1.0:
                assert sources == {"collaborative"}
            else:
                assert sources == {"llm_tag" if user in tags else "item_title_tag"}
                assert {i["retrieved_by"]["tag"] for i in got["items"]} <= set(got["tags"])
    got = client.get("/v1/users/u0_0/recommendations", params={"beta": 0.5}, headers=H).json()
    assert got["tag_source"] == "llm" and got["tags"] == ["crimson widget", "azure notebook"]  # failed tag left out
    assert {(i["retrieved_by"]["tag"], i["retrieved_by"]["interest"], i["retrieved_by"]["tag_category"])
            for i in got["items"]} <= {("crimson widget", "Crimson desk gadgets", "cat0"),
                                       ("azure notebook", "Crimson desk gadgets", "cat1")}


def test_explanations_are_looked_up_like_the_stages_table(client):
    from recgpt.runfolder import RunFolder
    from recgpt.stages.explanations import ExplanationTable

    table = ExplanationTable(RunFolder(tiny_run()).explanations, 1.0)
    for user, interests in (("u0_0", ["Crimson desk gadgets"]), ("u1_0", ["Azure note taking"]), ("u2_0", [])):
        got = client.get(f"/v1/users/{user}/recommendations", params={"k": 30, "exclude_history": False},
                         headers=H).json()
        assert len(got["items"]) == 30 and got["interests"] == interests
        for item in got["items"]:
            found = table.lookup(interests, item["item_id"])
            shown = item["explanation"]
            assert (shown and (shown["text"], shown["interest"])) == (found and (found.explanation, found.interest))
    table.close()
    every = client.get("/v1/users/u0_0/recommendations", params={"k": 30, "exclude_history": False}, headers=H).json()
    by_item = {i["item_id"]: i["explanation"] for i in every["items"]}
    assert by_item["i1_4"]["text"] == HOSTILE and by_item["i1_4"]["kind"] == "interest"  # stored text is returned verbatim (JSON)
    if "i0_3" in by_item:
        assert by_item["i0_3"]["kind"] == "item" and by_item["i0_3"]["interest"] == ""
    assert by_item.get("i3_1") is None  # its only explanation failed the checks


def test_similarity_match_equals_the_stages_lookup():
    """Interest texts that differ: the MiniLM-cosine fallback of both lookups (same fake vectors) agrees."""
    import pyarrow as pa

    from recgpt.serve.explain import ExplanationLookup
    from recgpt.stages.explanations import EXPLANATIONS_SCHEMA, ExplanationTable
    from recgpt.stages.postchecks import EmbeddingCache

    texts = ["desk gadgets", "crimson desk gadget", "note taking", "paper notes", "fishing"]
    vec = {t: v / np.linalg.norm(v) for t, v in zip(texts, np.random.default_rng(0).normal(size=(5, 8)))}
    vec["crimson desk gadget"] = (vec["desk gadgets"] * 0.9 + vec["fishing"] * 0.1)
    vec["crimson desk gadget"] /= np.linalg.norm(vec["crimson desk gadget"])
    fake = EmbeddingCache(lambda ts: np.stack([vec[t] for t in ts]))
    rows = [("desk gadgets", "a", "for desks"), ("note taking", "a", "for notes"), ("", "a", "item a"),
            ("fishing", "b", "for fishing")]
    import tempfile

    path = Path(tempfile.mkdtemp()) / "e.sqlite"
    table = ExplanationTable(path, 0.6, fake)
    table.write(pa.Table.from_pylist([{"interest": i, "item_id": it, "explanation": t, "passed_checks": True,
                                       "failed_check": None} for i, it, t in rows], schema=EXPLANATIONS_SCHEMA))
    lookup = ExplanationLookup.from_sqlite(path, 0.6)
    lookup.set_vectors(list(vec), np.stack(list(vec.values())))
    for interests in (["crimson desk gadget"], ["paper notes"], ["paper notes", "crimson desk gadget"], [], ["x"]):
        for item in ("a", "b", "c"):
            if "x" in interests:
                continue
            want, got = table.lookup(interests, item), lookup.lookup(interests, item)
            assert (want and (want.explanation, want.interest)) == (got and (got.text, got.interest)), (interests, item)
    table.close()


def test_the_key_is_required_except_for_health(client):
    assert client.get("/healthz").json()["status"] == "ok"
    for path in ("/v1/users/u0_0/recommendations", "/v1/users/u0_0/profile", "/v1/items/i0_1", "/metrics",
                 "/openapi.json", "/v1/run", "/ui"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"X-API-Key": "wrong"}).status_code == 401, path
    assert client.post("/v1/recommendations", json={"events": []}).status_code == 401
    assert client.get("/v1/run", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert "detail" in client.get("/v1/run").json()


def test_unknown_user_says_how_to_serve_a_new_one(client):
    r = client.get("/v1/users/nobody/recommendations", headers=H)
    assert r.status_code == 404 and "POST their recent events to /v1/recommendations" in r.json()["detail"]
    assert client.get("/v1/users/nobody/profile", headers=H).status_code == 404
    assert client.get("/v1/users/%2F..%2Fetc/recommendations", headers=H).status_code == 404


def test_limits_and_bad_input_are_4xx_never_500(client):
    for k in (0, 31, -1, "many"):
        assert client.get("/v1/users/u0_0/recommendations", params={"k": k}, headers=H).status_code == 422, k
    for beta in (-0.1, 1.5, "nan", "x"):
        assert client.get("/v1/users/u0_0/recommendations", params={"beta": beta}, headers=H).status_code == 422
    big = {"events": [{"item_id": "i0_1", "behavior": "purchase", "timestamp": 1}] * 200}
    assert client.post("/v1/recommendations", json=big, headers=H).status_code == 413
    chunked = (b'{"events": [' + b'{"item_id": "i0_1"},' * 400 + b'{"item_id": "i0_1"}]}' for _ in range(1))
    assert client.post("/v1/recommendations", content=chunked, headers=H).status_code == 413
    many = {"events": [{"item_id": "i0_1"}] * 51}
    r = client.post("/v1/recommendations", json=many, headers=H)
    assert r.status_code == 422 and "at most 50" in json.dumps(r.json()["detail"])
    assert client.post("/v1/recommendations", content=b'{"events": [', headers={**H, "content-type": "application/json"}).status_code == 422
    assert client.post("/v1/recommendations", content=b"not json", headers={**H, "content-type": "application/json"}).status_code == 422
    assert client.post("/v1/recommendations", json={"events": [{"item_id": "i0_1", "behavior": "teleport"}]},
                       headers=H).status_code == 422
    assert client.post("/v1/recommendations", json={"events": [{"item_id": "i0_1", "timestamp": 2**70}]},
                       headers=H).status_code == 422
    assert client.post("/v1/recommendations", json={"events": [], "k": 31}, headers=H).status_code == 422
    assert client.post("/v1/recommendations/batch", json={"user_ids": ["u0_0"] * 9}, headers=H).status_code == 422
    assert client.post("/v1/recommendations/batch", json={"user_ids": ["u0_0"], "exclude_history": 0},
                       headers=H).status_code == 422  # a number, not a boolean
    assert client.post("/v1/recommendations", json={"events": [], "beta": False}, headers=H).status_code == 422
    assert client.post("/v1/recommendations", json={"events": [], "beta": 1}, headers=H).status_code == 200
    assert client.post("/v1/recommendations", content=b"\x11\xff\x0e%-",
                       headers={**H, "content-type": "application/json"}).status_code in (400, 422)
    assert client.get("/v1/users/u0_0/recommendations", headers={**H, "content-length": "x"}).status_code == 400


def test_posted_events_unknown_items_are_listed(client):
    body = {"events": [{"item_id": "i0_1", "behavior": "purchase", "timestamp": 5},
                       {"item_id": "zz9", "behavior": "cart", "timestamp": 6}, {"item_id": "<b>x</b>"}]}
    r = client.post("/v1/recommendations", json=body, headers=H)
    assert r.status_code == 422
    assert r.json()["unknown_item_ids"] == ["zz9", "<b>x</b>"] and "'zz9'" in r.json()["detail"]


def test_a_new_user_is_embedded_from_posted_events(client):
    events = [{"item_id": f"i2_{j}", "behavior": "purchase", "timestamp": 100 + j} for j in (0, 1, 2, 3)]
    got = client.post("/v1/recommendations", json={"events": events, "k": 5}, headers=H).json()
    assert got["known_user"] is False and got["user_id"] is None and got["history_events"] == 4
    assert got["tag_source"] == "item_titles" and got["tags"][0] == "emerald stapler model 3"  # newest first
    assert not {i["item_id"] for i in got["items"]} & {e["item_id"] for e in events}
    assert sum(i["category"] == "cat2" for i in got["items"]) >= 4  # the planted cluster comes back
    cold = client.post("/v1/recommendations", json={"events": []}, headers=H).json()
    assert cold["tag_source"] == "none" and len(cold["items"]) == 10
    # a run user posting no new events gets exactly the GET list; with newer events the list moves
    same = client.post("/v1/recommendations", json={"user_id": "u0_0", "events": []}, headers=H).json()
    get = client.get("/v1/users/u0_0/recommendations", headers=H).json()
    assert same["tag_source"] == "llm" and same["known_user"] and same["items"] == get["items"]
    newer = client.post("/v1/recommendations", json={"user_id": "u0_0", "events": events}, headers=H).json()
    assert newer["history_events"] == get["history_events"] + 4 and newer["tag_source"] == "llm"
    assert not {i["item_id"] for i in newer["items"]} & {e["item_id"] for e in events}


def test_batch_equals_single_requests(client):
    r = client.post("/v1/recommendations/batch", json={"user_ids": ["u0_0", "ghost", "u3_2"], "k": 7}, headers=H)
    answer = r.json()
    assert r.status_code == 200 and answer["unknown_user_ids"] == ["ghost"]
    for result in answer["results"]:
        single = client.get(f"/v1/users/{result['user_id']}/recommendations", params={"k": 7}, headers=H).json()
        assert result == single


def test_profile_item_run_and_metrics(client):
    profile = client.get("/v1/users/u0_0/profile", headers=H).json()
    assert profile["compressed_history"]["text"].count("crimson widget") >= 6
    assert [(i["interest"], i["passed_checks"]) for i in profile["interests"]] == [
        ("Crimson desk gadgets", True), ("<i>Buy</i> everything", False)]
    assert [(t["tag"], t["category"], t["failed_check"]) for t in profile["tags"]] == [
        ("crimson widget", "cat0", None), ("azure notebook", "cat1", None), ("smart stuff", "cat0", "vague")]
    plain = client.get("/v1/users/u2_5/profile", headers=H).json()
    assert plain["interests"] == [] and plain["tags"] == [] and plain["compressed_history"]["text"]
    item = client.get("/v1/items/i1_4", headers=H).json()
    assert item["category"] == "cat1" and item["explanations"] == [
        {"interest": "Crimson desk gadgets", "text": HOSTILE}]
    assert client.get("/v1/items/i0_3", headers=H).json()["explanations"][0]["interest"] == ""
    assert client.get("/v1/items/nope", headers=H).status_code == 404
    info = client.get("/v1/run", headers=H).json()
    assert info["users"] == 48 and info["items"] == 40 and info["beta"] == 0.5 and info["users_with_llm_tags"] == 2
    text = client.get("/metrics", headers=H).text
    assert 'recgpt_serve_requests_total{method="GET",route="/v1/users/{user_id}/recommendations",status="200"}' in text
    assert 'route="/v1/users/{user_id}/recommendations",status="422"' in text
    assert 'recgpt_serve_request_seconds_bucket{le="0.005",route="/v1/users/{user_id}/recommendations"}' in text
    assert 'recgpt_serve_user_cache_total{result="hit"}' in text
    assert 'recgpt_serve_explanations_total{kind="interest"}' in text
    assert 'recgpt_serve_tag_source_total{source="item_titles"}' in text


def test_missing_table_is_a_start_up_error_naming_the_file(tmp_path):
    run = tiny_run(tmp_path / "run")
    (run / "stages" / "tags.parquet").unlink()
    (run / "data" / "users.parquet").unlink()
    with pytest.raises(MissingInputError) as err:
        create_app(run, CONFIG, key=KEY)
    assert "stages/tags.parquet" in str(err.value) and "data/users.parquet" in str(err.value)
    from typer.testing import CliRunner

    from recgpt.cli.main import app

    result = CliRunner().invoke(app, ["serve", "--run", str(run)], env={"RECGPT_API_KEY": KEY})
    assert result.exit_code == 2 and "data/users.parquet" in result.output
    with pytest.raises(MissingInputError, match="no run folder"):
        create_app(tmp_path / "nothing", CONFIG, key=KEY)


def test_committed_openapi_document_is_current():
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(openapi_document()))
    assert committed["components"]["securitySchemes"]["ApiKeyHeader"]["name"] == "X-API-Key"
    assert committed["paths"]["/healthz"]["get"]["security"] == []
    limits = committed["components"]["schemas"]["EventsRequest"]["properties"]
    assert limits["events"]["maxItems"] == 1000 and limits["k"]["anyOf"][0]["maximum"] == 200
