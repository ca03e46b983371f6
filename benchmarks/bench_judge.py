"""Benchmark of the LLM judge: judgements per minute and agreement with reference labels (Table 9's form).

Reference labels, in order of preference:

* ``--reference FILE --run RUN``: human verdicts (JSON Lines as written by ``recgpt judge dump``) on RUN's
  outputs; the judge grades those outputs and is compared with them per task.
* otherwise the report's own examples (Tables 1, 3 and 6: 5 interests, 5 tags, 5 explanations, each marked
  correct or incorrect by the report). The context of each probe is written from the report's "why"
  column. These are the report's labels, not human labels of our outputs, and there are only 15.

    .venv/bin/python benchmarks/bench_judge.py --threads 2
    .venv/bin/python benchmarks/bench_judge.py --run runs/office --reference labels/human.jsonl
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recgpt.judge.agreement import binary_metrics
from recgpt.judge.buffer import JudgeBuffer, Verdict
from recgpt.judge.config import JudgeConfig
from recgpt.judge.items import load_items
from recgpt.judge.llm_judge import LLMJudge
from recgpt.judge.rubric import load_rubric
from recgpt.cli.common import apply_llm_flags
from recgpt.llm.config import LLMConfig
from recgpt.llm.runtime import LLMRuntime
from recgpt.runfolder import RunFolder

# Table 9 of the report: (ACC, Precision, Recall, F1) of Qwen3-Judge-Base and Qwen3-Judge-SFT.
TABLE9 = {"interests": ((0.6777, 0.6742, 0.9777, 0.7968), (0.7689, 0.7996, 0.8575, 0.8275)),
          "tags": ((0.8741, 0.9310, 0.9196, 0.9253), (0.9308, 0.9714, 0.9463, 0.9587)),
          "explanations": ((0.5677, 0.8753, 0.5677, 0.6657), (0.8976, 0.9067, 0.8976, 0.9016))}

# (user history, interest, reason, report's verdict) from Table 1
INTERESTS = [("2025-05 (purchase) | Tennis racket, Tennis balls 3-pack", "Tennis", "User purchased a tennis racket.", True),
             ("2025-05 (purchase) | Dish soap, Laundry detergent, Paper towels, Toilet cleaner",
              "Purchasing household necessities", "Most purchases are daily cleaning items.", False),
             ("2025-04 (purchase) | Yoga pants, Cotton T-shirt", "Yoga", "Purchases include yoga pants.", False),
             ("2025-03 (search) | wool blanket, fleece blanket, king size blanket", "Model making",
              "User searched for many blankets.", False),
             ("2025-05 (purchase) | Cotton socks, Spiral notebook", "Smart home",
              "User purchased smart home accessories.", False)]
# (user history, tag, interest, reason, report's verdict) from Table 3
TAGS = [("2025-05 (purchase) | Cat litter, Cat food; (search) travel cat bag", "Foldable pet carrier case",
         "Cat ownership", "User has a cat and focuses on portable storage.", True),
        ("2025-05 (purchase) | Facial cleanser, Moisturizing cream", "Embroidery bird-and-flower pattern silk pillowcase",
         "Skincare", "User likes skincare.", False),
        ("Age 20. No recorded behavior.", "Calcium supplement powder for elderly health", "Health",
         "Elderly people need calcium.", False),
        ("2025-05 (purchase) | Hiking boots, Trekking poles", "Mountaineering outdoor sports equipment",
         "Mountaineering", "User buys hiking gear.", False),
        ("2025-05 (purchase) | Ceramic mug, Coffee beans", "Smart coaster", "Coffee", "User drinks coffee.", False)]
# (explanation, report's verdict) from Table 6: interest "outdoor travel", item "backpack"
EXPLANATIONS = [("Roam mountains and rivers, a backpack to accompany your journey.", True),
                ("Office backpack, document carry convenience.", False),
                ("Bag cutproof fireproof lasts forever.", False),
                ("Bag bag good bag buy bag good.", False),
                ("MsZhang time-limited offer bag quick buy.", False)]


def probe_run(root: Path) -> tuple[RunFolder, dict[tuple[str, str], bool]]:
    """A run folder holding the report's examples as stage outputs, and their reference verdicts."""
    run = RunFolder(root).ensure()
    users = [f"p{i}" for i in range(5)]
    pq.write_table(pa.table({"user_id": users + [f"q{i}" for i in range(5)],
                             "text": [h for h, *_ in INTERESTS] + [h for h, *_ in TAGS]}), run.compressed)
    pq.write_table(pa.table({"user_id": users, "interest_id": ["0"] * 5, "interest": [x[1] for x in INTERESTS],
                             "stage": ["listed"] * 5, "reason": [x[2] for x in INTERESTS]}), run.interests)
    pq.write_table(pa.table({"user_id": [f"q{i}" for i in range(5)], "tag": [x[1] for x in TAGS],
                             "interest": [x[2] for x in TAGS], "reason": [x[3] for x in TAGS],
                             "category": ["-"] * 5}), run.tags)
    pq.write_table(pa.table({"item_id": ["b1"], "title": ["Lightweight 40L hiking backpack"],
                             "category": ["Outdoor / Backpacks"], "brand": ["Trailmark"]}), run.data / "items.parquet")
    with sqlite3.connect(run.explanations) as conn:
        conn.execute("CREATE TABLE explanations (interest TEXT, item_id TEXT, explanation TEXT)")
        conn.executemany("INSERT INTO explanations VALUES (?, ?, ?)",
                         [("Outdoor travel", "b1", e) for e, _ in EXPLANATIONS])
    reference = {("interests", f"user p{i} interest 0"): x[3] for i, x in enumerate(INTERESTS)}
    reference |= {("tags", f"user q{i} tag 0"): x[4] for i, x in enumerate(TAGS)}
    # explanations share one (interest, item) key in a real table; keep them apart by item key suffix
    return run, reference


def reference_from_file(path: Path, rubric_version: str) -> dict[tuple[str, str], bool]:
    """Output-level human verdicts: an output passes when every labelled rubric criterion passes."""
    by_item: dict[tuple[str, str], dict[str, bool]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            v = Verdict(**json.loads(line))
            if v.source == "human":
                by_item.setdefault((v.task, v.item_key), {})[v.criterion] = v.passed
    out = {}
    for (task, key), got in by_item.items():
        criteria = load_rubric(task, rubric_version).criterion_names
        if all(c in got for c in criteria):
            out[(task, key)] = all(got[c] for c in criteria)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="run folder whose outputs the reference labels cover")
    parser.add_argument("--reference", type=Path, help="human verdicts (JSON Lines from 'recgpt judge dump')")
    parser.add_argument("--backend", default="llama-cpp")
    parser.add_argument("--model", default=None)
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--examples", action="store_true", help="show the rubric examples in the prompt")
    parser.add_argument("--sample", type=int, default=None, help="outputs per task (with --run)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_judge_"))
    if args.reference:
        if not args.run:
            parser.error("--reference needs --run")
        run, reference = RunFolder(args.run), reference_from_file(args.reference, "v1")
        what = f"human labels in {args.reference}"
    else:
        run, reference = probe_run(tmp / "run")
        what = "the report's examples (Tables 1, 3, 6), 5 per task"
    llm = apply_llm_flags(LLMConfig(structured_retries=1, progress=False, options={"llama-cpp": {"n_ctx": 2048}}),
                          args.backend, args.model, args.base_url, args.threads if args.backend == "llama-cpp" else None)
    config = JudgeConfig(llm=llm, prompt_examples=args.examples, max_tokens=args.max_tokens,
                         reason_chars=48, max_context_chars=600, sample_per_task=args.sample)
    items = load_items(run, config.tasks, config.sample_per_task, config.seed, config.max_context_chars)
    if not args.reference:  # the five explanations share one (interest, item): give each its own key
        n = 0
        for item in items:
            if item.task == "explanations":
                item.item_key = f"probe {n}"
                reference[("explanations", item.item_key)] = EXPLANATIONS[n][1]
                n += 1
    buffer = JudgeBuffer(tmp / "buffer.sqlite")  # a fresh buffer and no cache: every call is timed
    with LLMRuntime(llm, usage_path=tmp / "usage.jsonl") as runtime:
        judge = LLMJudge(config, runtime)
        start, cpu_start = time.perf_counter(), time.process_time()
        stats = judge.grade(items, buffer)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    usage = [json.loads(x) for x in (tmp / "usage.jsonl").read_text().splitlines()]
    print(f"judge {judge.name}, {stats.asked} outputs asked in {wall:.1f} s wall: "
          f"{60 * stats.asked / wall:.2f} outputs/min, {60 * stats.verdicts / wall:.2f} criterion verdicts/min; "
          f"{stats.failed_calls} without a verdict; {cpu / max(1, stats.asked):.1f} CPU-seconds per output "
          f"(all threads; comparable across machine load)")
    print(f"mean prompt tokens {sum(u['prompt_tokens'] for u in usage) / max(1, len(usage)):.0f}, "
          f"completion tokens {sum(u['completion_tokens'] for u in usage) / max(1, len(usage)):.0f}, "
          f"latency {sum(u['latency_s'] for u in usage) / max(1, len(usage)):.1f} s per call")
    llm_verdicts = {(v.task, v.item_key, v.criterion): v.passed for v in buffer.verdicts(source="llm")}
    print(f"\nAgreement with {what} (positive class = pass; output level)")
    print(f"{'task':<13} {'judge':<28} {'n':>3} {'ACC':>7} {'Prec':>7} {'Recall':>7} {'F1':>7}")
    for task in config.tasks:
        criteria = load_rubric(task).criterion_names
        pairs = [(ref, all(llm_verdicts[(t, key, c)] for c in criteria)) for (t, key), ref in reference.items()
                 if t == task and all((t, key, c) in llm_verdicts for c in criteria)]
        if pairs:
            m = binary_metrics([p[0] for p in pairs], [p[1] for p in pairs])
            print(f"{task:<13} {'embedded (this run)':<28} {m.n:>3} {m.accuracy:>7.4f} {m.precision:>7.4f} "
                  f"{m.recall:>7.4f} {m.f1:>7.4f}")
        for name, row in zip(("report Qwen3-Judge-Base", "report Qwen3-Judge-SFT"), TABLE9[task]):
            print(f"{'':<13} {name:<28} {'':>3} " + " ".join(f"{x:>7.4f}" for x in row))


if __name__ == "__main__":
    main()
