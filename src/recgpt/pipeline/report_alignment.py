"""The report's "Alignment" section: the tuned tag model against the base model (report Table 5, answer
quality, and retrieval with each model's tags), from ``RUN/alignment/summary.json`` and ``table5.json``."""

from __future__ import annotations

from pathlib import Path

from recgpt.pipeline import plots
from recgpt.pipeline.document import Figure, Heading, Paragraph, TableBlock

METHOD_LABELS = {"base": "base model tags", "tuned": "tuned model tags", "history": "own history (no LLM)",
                 "popularity": "popular (no LLM)"}


def _f(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def alignment_blocks(summary: dict | None, table5: dict | None, fig_dir: Path) -> list:
    """Blocks of the section, or none when alignment was off."""
    if not summary or not summary.get("enabled") or not table5 or not table5.get("enabled"):
        return []
    ks, rows = table5["ks"], table5["rows"]
    blocks: list = [
        Heading("Alignment: the tuned tag model (report 2.2.2, Table 5)"),
        Paragraph(f"The tag model was fine-tuned (LoRA) on {summary['samples']['train']:,} incremental-learning "
                  f"samples from the training fold ({summary.get('steps', '?')} steps, training loss "
                  f"{_f(summary.get('first_loss'))} -> {_f(summary.get('last_loss'))}, held-out loss "
                  f"{_f(summary.get('best_eval_loss'))}, {_f(summary.get('tokens_per_s'), 0)} tokens/s), and the "
                  f"tags stage answered with it. Below, both models answer the same tag prompts for the same "
                  f"{table5['users']} sampled test users; HR@K is the share whose next item's class is among the "
                  "first K classes the tags name, at the catalog's categories and at a finer leaf level (title "
                  "clusters)."),
    ]
    for granularity in ("category", "leaf"):
        series = {METHOD_LABELS.get(m, m): [rows[m][granularity][f"HR@{k}"] for k in ks] for m in rows}
        table_rows = [[name] + [_f(v) for v in values] + [_f(rows[m][granularity]["mean_list"], 1)]
                      for (name, values), m in zip(series.items(), rows)]
        blocks.append(TableBlock([f"{granularity} of the next item, from"] + [f"HR@{k}" for k in ks]
                                 + ["classes named"], table_rows))
        path = plots.tag_hit_rate_plot(fig_dir / f"alignment_{granularity}.png", ks, series,
                                       title=f"{granularity.capitalize()} hit rate, base vs tuned")
        blocks.append(Figure(path, f"{granularity.capitalize()} HR@K of the base and the tuned model's tags."))
    models = table5["models"]
    blocks.append(TableBlock(
        ["model", "valid JSON", "tags passing checks", "passed tags per user", "tokens per answer", "s per user"],
        [[name, _f(m["valid_json"]), _f(m["pass_rate"]), _f(m["tags_per_user"], 1), _f(m["tokens_per_answer"], 1),
          _f(m["seconds_per_user"], 2)] for name, m in models.items()],
        caption="Answer quality of each model on the same prompts."))
    down = table5.get("downstream") or {}
    if down.get("users"):
        k = down["k"]
        down_rows = [[name] + [_f(values.get(f"{m}@{k}")) for m in ("recall", "categories", "long_tail")]
                     for name, values in down.items() if isinstance(values, dict)]
        blocks.append(TableBlock(["tags from, retrieval", f"Recall@{k}", f"categories@{k}", f"long tail@{k}"],
                                 down_rows, caption=f"{down['users']} sampled users with tags from both models; "
                                 f"fused at the beta tuned on dev ({down['beta']:g})."))
    return blocks


def judge_blocks(rows: list[dict] | None, state: dict) -> list:
    """The judge's pass rates per task and criterion (``RUN/judge/pass_rates.json``) when ``judge.run_filter`` graded
    the run's stages (their summaries say how many outputs it dropped); none otherwise."""
    stages = state.get("stages", state) if isinstance(state, dict) else {}
    summaries = {name: (stages.get(name) or {}).get("summary", {}) for name in ("interests", "tags", "explanations")}
    if not rows or not any("judge_dropped" in s for s in summaries.values()):
        return []
    blocks: list = [Heading("The judge in the run (report Section 3)"),
                    Paragraph("The configured judge graded the interests, tags and explanations right after their "
                              "stages; an interest or tag failing any criterion was dropped before the next stage, "
                              "and a failing explanation is no longer served by the lookup. Pass rates per criterion "
                              "(outputs the post-checks had already failed were not judged):")]
    table = [[r["task"], r["criterion"], r["judge"], f"{r['n']:,}", _f(r["pass_rate"])] for r in rows]
    blocks.append(TableBlock(["task", "criterion", "judge", "judged", "pass rate"], table))
    dropped = ", ".join(f"{name}: {s['judge_dropped']} dropped of {s.get('judged', '?')} judged"
                        for name, s in summaries.items() if "judge_dropped" in s)
    blocks.append(Paragraph(f"Dropped by the judge: {dropped}."))
    return blocks
