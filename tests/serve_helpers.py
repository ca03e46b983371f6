"""A tiny finished run folder for the serving tests (imported by tests/test_serve_*.py).

Built once per test process from the planted data set (four clusters of ten items, 48 users): the retriever
trained with the small planted settings, beta tuned to 0.5, compressed behavior of every user, and for two
users interests, tags (one failing its checks, categories from phi's vocabulary) and explanations written
straight into the stages' lookup table. No LLM and no MiniLM model run (``match_similarity: 1``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recgpt.runfolder import RunFolder

HOSTILE = '<script>window.__pwned = 1</script><b id="injected">bold</b> for your desk'
KEY = "test-key-0123456789"
#: (interest, item, explanation); "" interest = item-only
EXPLANATIONS = [
    ("Crimson desk gadgets", "i0_1", "A crimson widget to match your desk"),
    ("Crimson desk gadgets", "i1_4", HOSTILE),
    ("Azure note taking", "i1_1", "Azure notebooks for your notes"),
    ("", "i0_3", "A sturdy widget in crimson"),
    ("", "i1_2", "An azure notebook with thick paper"),
    ("", "i2_1", "An emerald stapler for thick stacks"),
]


@lru_cache(maxsize=1)
def _built() -> Path:
    from recgpt.behavior.compression import compress_users
    from recgpt.data.store import save_dataset
    from recgpt.retrieval.synthetic import PLANTED_TAR_SETTINGS, planted_dataset
    from recgpt.retrieval.tar import TARRecommender
    from recgpt.stages.explanations import EXPLANATIONS_SCHEMA, ExplanationTable

    root = Path(tempfile.mkdtemp(prefix="recgpt-serve-run-")) / "run"
    run = RunFolder(root).ensure()
    dataset = planted_dataset()
    save_dataset(dataset, run.data)
    TARRecommender(**{**PLANTED_TAR_SETTINGS, "epochs": 25}).fit(dataset, None).save(run.retriever)
    (run.eval / "tuning.json").write_text(json.dumps({"beta_tuned": 0.5}))
    run.config.write_text("explanations:\n  match_similarity: 1.0\n")
    pq.write_table(compress_users(dataset), run.compressed)
    interests = pa.table({
        "user_id": ["u0_0", "u0_0", "u1_0"],
        "interest_id": ["u0_0:01", "u0_0:02", "u1_0:01"],
        "interest": ["Crimson desk gadgets", "<i>Buy</i> everything", "Azure note taking"],
        "stage": ["listed", "extended", "listed"],
        "reason": ["bought crimson widgets", "x", "bought azure notebooks"],
        "passed_checks": [True, False, True],
        "failed_check": [None, "necessity", None],
    })
    pq.write_table(interests, run.interests_all)
    pq.write_table(interests.filter(interests.column("passed_checks")).drop(["passed_checks", "failed_check"]),
                   run.interests)
    pq.write_table(pa.table({
        "user_id": ["u0_0", "u0_0", "u0_0", "u1_0"],
        "tag": ["crimson widget", "azure notebook", "smart stuff", "azure notebook model"],
        "interest": ["Crimson desk gadgets", "Crimson desk gadgets", "Crimson desk gadgets", "Azure note taking"],
        "reason": ["r1", "r2", "r3", "r4"],
        "category": ["cat0", "cat1", "cat0", "cat1"],
        "passed_checks": [True, True, False, True],
        "failed_check": [None, None, "vague", None],
    }), run.tags)
    rows = [{"interest": i, "item_id": item, "explanation": text, "passed_checks": True, "failed_check": None}
            for i, item, text in EXPLANATIONS]
    rows.append({"interest": "", "item_id": "i3_1", "explanation": "too long to pass", "passed_checks": False,
                 "failed_check": "length"})
    table = ExplanationTable(run.explanations, 1.0)
    table.write(pa.Table.from_pylist(rows, schema=EXPLANATIONS_SCHEMA))
    table.close()
    return root


def tiny_run(where: Path | None = None) -> Path:
    """The tiny run folder: the shared one, or a copy under ``where`` (for tests that change it)."""
    built = _built()
    if where is None:
        return built
    shutil.copytree(built, where)
    return where
