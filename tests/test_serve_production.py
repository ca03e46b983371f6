"""Catalog-wide explanation production (report 2.4.2) for what the service shows, and its coverage, on the tiny
run (a scripted LLM): pairs through shared categories over every served list, bounded, most-shown first."""

import json

import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from serve_helpers import KEY, tiny_run

from recgpt.data.store import load_dataset
from recgpt.runfolder import RunFolder
from recgpt.serve.app import create_app
from recgpt.serve.config import ServeConfig
from recgpt.stages.config import ExplanationsConfig
from recgpt.stages.explanations import ExplanationTable, explanation_coverage, pair_catalog
from recgpt.stages.runner import run_explanations, served_lists
from stages_fixtures import fake_runtime


def test_served_lists_are_what_the_service_shows():
    run = RunFolder(tiny_run())
    served = served_lists(run, load_dataset(run.data), 20)
    assert len(served) == 48
    with TestClient(create_app(run.root, ServeConfig(watch_interval_s=0), key=KEY)) as client:
        for user in ("u0_0", "u1_0", "u2_4", "u3_11"):
            got = client.get(f"/v1/users/{user}/recommendations", headers={"X-API-Key": KEY}).json()
            assert [i["item_id"] for i in got["items"]] == served[user]


def test_catalog_pairs_follow_categories_exposure_and_the_bound():
    run = RunFolder(tiny_run())
    dataset = load_dataset(run.data)
    served = served_lists(run, dataset, 20)
    tags = pq.read_table(run.tags)
    config = ExplanationsConfig(production="catalog", items_per_interest=2, item_only_items=5, max_pairs=100)
    pairs = pair_catalog(tags, served, dataset.items, config)
    category = dict(zip(dataset.items.column("item_id").to_pylist(), dataset.items.column("category").to_pylist()))
    interest_pairs = [p for p in pairs if p.interest]
    item_only = [p.item_id for p in pairs if not p.interest]
    assert len(item_only) == 5 and len(pairs) == len({(p.interest, p.item_id) for p in pairs})
    exposure = {}
    for shown in served.values():
        for item in shown:
            exposure[item] = exposure.get(item, 0) + 1
    assert [exposure[i] for i in item_only] == sorted(exposure.values(), reverse=True)[:5]
    passed = {(r["interest"], r["category"]) for r in tags.to_pylist() if r["passed_checks"]}
    assert interest_pairs and all((p.interest, category[p.item_id]) in passed for p in interest_pairs)
    # the user's own served items first (Crimson desk gadgets: u0_0's list, cat0 and cat1)
    own = [p.item_id for p in interest_pairs if p.interest == "Crimson desk gadgets"][:2]
    assert set(own) <= set(served["u0_0"])
    assert len(pair_catalog(tags, served, dataset.items, config.model_copy(update={"max_pairs": 7}))) == 7


def test_production_raises_coverage_of_what_is_served(tmp_path):
    run = RunFolder(tiny_run(tmp_path / "run"))
    dataset = load_dataset(run.data)
    served = served_lists(run, dataset, 20)
    interests = {"u0_0": ["Crimson desk gadgets"], "u1_0": ["Azure note taking"]}

    def script(prompt):
        return json.dumps({"explanation": "Fits neatly on a busy office desk"})

    coverage = {}
    for mode in ("shown", "catalog"):
        runtime, backend = fake_runtime(script, tmp_path / mode)
        config = ExplanationsConfig(production=mode, items_per_interest=2, item_only_items=10, max_pairs=60,
                                    match_similarity=1.0)
        shown = {u: served[u][:5] for u in ("u0_0", "u1_0")}
        outcome = run_explanations(run, dataset, runtime, config, recommended=shown, replace=True, served=served)
        table = ExplanationTable(run.explanations, 1.0)
        coverage[mode] = explanation_coverage(table, served, interests)
        table.close()
        assert outcome.counts["pairs"] == backend.calls <= 60
    assert coverage["shown"]["served_slots"] == 48 * 20
    for mode in coverage:  # every scripted answer passes the checks: what was paired is what is served
        assert coverage[mode]["served_paired_share"] == round(1 - coverage[mode]["served_none_share"], 4)
    assert coverage["catalog"]["served_none_share"] < coverage["shown"]["served_none_share"]
    assert coverage["catalog"]["personal_interest_share"] >= coverage["shown"]["personal_interest_share"] > 0
    counts = sorted((sum(i in shown for shown in served.values()) for i in {i for v in served.values() for i in v}),
                    reverse=True)
    top10 = sum(counts[:10]) / (48 * 20)  # every slot of the 10 most-shown items has its item-only explanation
    assert 1 - coverage["catalog"]["served_none_share"] >= top10 > 0.2
