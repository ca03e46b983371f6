"""The evaluation report of a finished run: ``RUN/report/report.md`` and a self-contained ``report.html``.

It answers one question with evidence: does RecGPT (fused tag + collaborative retrieval) beat the
collaborative baseline on accuracy, category diversity and long-tail exposure on this data? Everything is
read back from the run folder, so ``recgpt report --run RUN`` regenerates it without recomputing anything.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from recgpt.pipeline import plots
from recgpt.pipeline.report_alignment import alignment_blocks, judge_blocks
from recgpt.pipeline.report_seral import seral_blocks
from recgpt.pipeline.artifacts import METHODS, read_json, read_rows
from recgpt.errors import MissingInputError
from recgpt.registry import family_of
from recgpt.runfolder import RunFolder
from recgpt.pipeline.casestudies import case_study_blocks
from recgpt.pipeline.document import Bullets, Figure, Heading, Paragraph, TableBlock, to_html, to_markdown
from recgpt.pipeline.llmstats import llm_stat_blocks


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(change: float | None) -> str:
    return "n/a" if change is None else f"{change * 100:+.1f}%"


def _ci_halfwidth(p: float, n: int, z: float = 1.96) -> float:
    """Half width of the Wilson 95% interval of a proportion over n users (sane at p = 0 and small n)."""
    if not n:
        return float("nan")
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return spread / (1 + z * z / n)


def method_labels(metrics: dict) -> dict[str, str]:
    labels = dict(METHODS)
    if metrics.get("classic_name"):
        options = metrics.get("classic_options")
        tuned = " tuned on dev, refit on train + dev" if metrics.get("classic_tuned") else ""
        labels["classic"] = f"Classic baseline ({metrics['classic_name']}{', ' + options if options else ''}{tuned})"
    if metrics.get("beta_tuned") is not None:
        labels["fused"] = f"TAR fused (beta={metrics['beta_tuned']:g}, tuned on dev)"
    return labels


def verdict_blocks(metrics: dict, k: int) -> list:
    """The answer first: fused against collaborative-only on the same users, per dimension."""
    m = metrics["sample"]["methods"]
    if "fused" not in m or "collaborative" not in m:
        why = ("No sampled user has LLM tags (see the table of users with item-title tags below)"
               if not metrics["sample"].get("users") else "The fused and collaborative-only lists are missing")
        return [Heading("Does RecGPT beat the collaborative baseline on this data?"), Paragraph(f"{why}; no verdict.")]
    collab = m["collaborative"]
    n = metrics["sample"]["users"]
    noise = _ci_halfwidth(collab[f"recall@{k}"], n)

    def line(name: str, key: str, higher_is_better: bool = True, method: str = "fused",
             against: str = "collaborative", block: dict | None = None) -> str:
        values = block or m
        a, b = values[method][key], values[against][key]
        change = None if b == 0 else (a - b) / b
        better = (a > b) if higher_is_better else (a < b)
        word = "better" if better else ("equal" if a == b else "worse")
        other = "collaborative-only" if against == "collaborative" else against
        return f"**{name}**: {method} {_fmt(a, 3)} vs {other} {_fmt(b, 3)} ({_pct(change)}, {word})"

    items = [
        line(f"Accuracy, Recall@{k}", f"recall@{k}"),
        line(f"Accuracy, NDCG@{k}", f"ndcg@{k}"),
        line(f"Diversity, categories per top-{k} list", f"categories@{k}"),
        line(f"Long tail, share of top-{k} slots outside the 20% most popular items", f"long_tail@{k}"),
        line("Concentration, Gini of exposure over the catalog (lower is fairer)", f"gini@{k}", False),
    ]
    if "classic" in m:
        items.append(line(f"Against the classic baseline ({metrics.get('classic_name', 'classic')}), Recall@{k}",
                          f"recall@{k}", against="classic"))
    if "sequential" in m:
        items.append(line(f"Against the sequential reference (SASRec), Recall@{k}", f"recall@{k}",
                          against="sequential"))
    everyone = (metrics.get("all_users") or {}).get("methods", {})
    if "collaborative" in everyone and "sequential" in everyone:
        items.append(line(f"All {metrics['all_users']['users']} test users, the retriever's collaborative side "
                          f"against SASRec, Recall@{k}", f"recall@{k}", method="collaborative",
                          against="sequential", block=everyone))
    if "collaborative" in everyone and "classic" in everyone:
        items.append(line(f"All {metrics['all_users']['users']} test users, the retriever's collaborative side "
                          f"against the classic baseline, Recall@{k}", f"recall@{k}", method="collaborative",
                          against="classic", block=everyone))
    beta = metrics.get("beta_tuned")
    if beta is not None and beta >= 1.0:
        items.append("The beta tuned on dev is 1: on this data the dev fold preferred the collaborative signal alone, "
                     "so the fused lists equal the collaborative-only ones; the tags-only row shows what the tags "
                     "retrieve by themselves.")
    elif "tags-only" in m:
        items.append(line(f"Tags alone (beta=0), Recall@{k}", f"recall@{k}", method="tags-only"))
    note = (
        f"Measured on the same {n} seeded test user{'s' if n != 1 else ''} with LLM tags for every method. With {n} "
        f"user{'s' if n != 1 else ''} a single Recall@{k} "
        f"value carries a 95% interval of about ±{noise:.3f}, so accuracy differences smaller than that are noise."
    )
    return [Heading("Does RecGPT beat the collaborative baseline on this data?"), Bullets(items), Paragraph(note)]


def _users(block: dict, name: str) -> str:
    return str(block["methods"][name].get("users", block.get("users", "?")))


def accuracy_blocks(metrics: dict, ks: list[int], labels: dict[str, str], fig_dir: Path) -> list:
    sample = metrics["sample"]
    methods = [name for name in METHODS if name in sample["methods"]]
    header = ["method", "users"] + [f"{m}@{k}" for k in ks for m in ("Recall", "NDCG")]

    def table_rows(block: dict, names: list[str]) -> list[list[str]]:
        return [[labels[n], _users(block, n)] + [_fmt(block["methods"][n][f"{m}@{k}"]) for k in ks
                                                 for m in ("recall", "ndcg")] for n in names]

    blocks: list = [Heading("Accuracy")]
    if methods:
        blocks.append(TableBlock(header, table_rows(sample, methods), caption=f"Test fold, full ranking of the "
                      f"catalog, history excluded; the {sample['users']} sampled users with LLM tags (tags-only and "
                      "fused use those tags).", highlight_rows={methods.index("fused")} if "fused" in methods else set()))
    titled = metrics.get("sample_title_tags")
    if titled and titled.get("methods"):
        names = [n for n in METHODS if n in titled["methods"]]
        title_labels = {**labels, "tags-only": "TAR tags-only (beta=0), item-title tags",
                        "fused": labels["fused"].replace("TAR fused", "TAR fused, item-title tags")}
        rows = [[title_labels[n]] + row[1:] for n, row in zip(names, table_rows(titled, names))]
        blocks.append(TableBlock(header, rows,
                                 caption=f"The {titled['users']} sampled users without LLM tags (no interest or tag "
                                 "survived the checks): their tags-only and fused lists use item-title tags (the titles "
                                 "of their last items) instead, so they are reported apart from the rows above."))
    everyone = metrics.get("all_users")
    if everyone and everyone.get("methods"):
        names = [n for n in METHODS if n in everyone["methods"]]
        blocks.append(TableBlock(header, table_rows(everyone, names), caption=f"The methods that need no LLM on all "
                                 f"{everyone['users']} test users (a steadier estimate of the baselines)."))
    values = {n: sample["methods"][n] for n in methods}
    if not methods:
        return blocks + beta_blocks(metrics)
    path = plots.grouped_bars(fig_dir / "accuracy.png", methods,
                              [("Recall@K", [f"recall@{k}" for k in ks], values),
                               ("NDCG@K", [f"ndcg@{k}" for k in ks], values)], labels)
    blocks.append(Figure(path, "Recall@K and NDCG@K per method, sampled test users."))
    blocks += beta_blocks(metrics)
    return blocks


def beta_blocks(metrics: dict) -> list:
    """The dev curve of the fusion weight: recall, categories and long tail per beta, and how beta was chosen."""
    key = metrics.get("beta_metric", "score")
    criterion = metrics.get("beta_criterion", "best")
    how = ("the best dev recall" if criterion == "best" else
           f"the smallest beta whose dev recall is within {metrics.get('beta_tolerance', 0) * 100:g}% of the best")
    caption = (f"The fusion weight on the dev fold (h = beta h_user + (1 - beta) h_tag, item-title tags); beta = "
               f"{_fmt(metrics.get('beta_tuned'))} was chosen as {how} (evaluation.beta_criterion: {criterion}).")
    curve = metrics.get("beta_curve")
    if curve:
        k = key.split("@")[-1]
        rows = [[f"{c['beta']:g}", _fmt(c["recall"]), _fmt(c["categories"], 2), _fmt(c["long_tail"], 3)]
                for c in curve]
        return [TableBlock(["beta", f"dev {key}", f"dev categories@{k}", f"dev long tail@{k}"], rows, caption=caption)]
    if metrics.get("beta_grid"):
        grid = metrics["beta_grid"]
        return [TableBlock(["beta"] + [f"{float(b):g}" for b in grid], [[f"dev {key}"] + [_fmt(v) for v in grid.values()]],
                           caption=caption)]
    return []


def diversity_blocks(metrics: dict, ks: list[int], labels: dict[str, str], fig_dir: Path) -> list:
    sample = metrics["sample"]
    methods = [n for n in METHODS if n in sample["methods"]]
    if not methods:
        return []
    header = ["method"] + [f"{m}@{k}" for k in ks for m in ("categories", "long tail")] + [f"Gini@{ks[-1]}", f"coverage@{ks[-1]}"]
    rows = []
    for n in methods:
        v = sample["methods"][n]
        rows.append([labels[n]] + [_fmt(v[f"{m}@{k}"], 3) for k in ks for m in ("categories", "long_tail")]
                    + [_fmt(v[f"gini@{ks[-1]}"], 3), _fmt(v[f"coverage@{ks[-1]}"], 3)])
    values = {n: sample["methods"][n] for n in methods}
    path = plots.grouped_bars(fig_dir / "diversity.png", methods,
                              [("Distinct categories per list", [f"categories@{k}" for k in ks], values),
                               ("Long-tail share of slots", [f"long_tail@{k}" for k in ks], values)], labels)
    return [
        Heading("Diversity and long-tail exposure"),
        TableBlock(header, rows, caption="categories@K: distinct categories in a top-K list (mean over users); "
                   "long tail@K: share of slots given to items outside the 20% most popular; Gini and coverage of "
                   "exposure over the whole catalog.", highlight_rows={methods.index("fused")} if "fused" in methods else set()),
        Figure(path, "Categories per list and long-tail share per method."),
    ]


def matthew_blocks(decile_rows: list[dict], k: int, labels: dict[str, str], fig_dir: Path) -> list:
    populations = {r.get("population", "sample") for r in decile_rows}
    population = "sample" if "sample" in populations or not populations else "sample_title_tags"
    rows = [r for r in decile_rows if r.get("population", "sample") == population and r["k"] == k]
    methods = [m for m in ("collaborative", "fused", "classic") if any(r["method"] == m for r in rows)]
    if not rows:
        return []
    path = plots.matthew_plot(fig_dir / "matthew.png", rows, methods, k, labels)
    table_rows = []
    for d in range(10):
        row = [str(d + 1)]
        for m in methods:
            r = next((x for x in rows if x["method"] == m and x["decile"] == d), None)
            row += [_fmt(r["exposure"], 3), _fmt(r["hit_rate"], 3)] if r else ["", ""]
        row.append(str(next((x["target_users"] for x in rows if x["decile"] == d), "")))
        table_rows.append(row)
    header = ["decile"] + [f"{labels[m].split(' (')[0]} {what}" for m in methods for what in ("exposure", "hit rate")] + ["users"]
    return [
        Heading("The Matthew effect: exposure and hits by item popularity"),
        Paragraph("The report's Figure 1 in offline form. Items are split into ten popularity deciles by training "
                  "interactions (1 = the most popular tenth). Left: the share of all recommendation slots each decile "
                  "receives. Right: among users whose held-out item lies in the decile, the share who find it in "
                  f"their top {k}. A flatter exposure curve and a higher right tail mean less popularity bias."),
        Figure(path, f"Exposure and hit rate per popularity decile, top-{k} lists."),
        TableBlock(header, table_rows, caption="The plotted values; 'users' counts test users whose held-out item "
                   "lies in the decile (small counts make the hit rate noisy)."),
    ]


def tag_eval_blocks(tag_eval: dict | None, fig_dir: Path) -> list:
    if not tag_eval:
        return []
    ks = tag_eval["ks"]
    series = {name: values for name, values in tag_eval["series"].items()}
    path = plots.tag_hit_rate_plot(fig_dir / "tag_hit_rate.png", ks, series)
    rows = [[name] + [_fmt(v, 3) for v in values] for name, values in series.items()]
    return [
        Heading("Tag quality: category hit rate of the next interaction"),
        Paragraph(f"Report Table 5 offline: the user's predicted tags are mapped to catalog categories through phi; "
                  f"HR@K is the share of users whose held-out item's category is among the first K. The baseline uses "
                  f"no LLM. {tag_eval.get('note', '')}".strip()),
        TableBlock(["tags from"] + [f"HR@{k}" for k in ks], rows, caption=f"{tag_eval.get('users', '?')} users."),
        Figure(path, "Category HR@K of the LLM tags and of the no-LLM baseline."),
    ]


def search_blocks(search: dict | None) -> list:
    """What ``--tune-retriever`` searched on dev and what it kept (``RUN/retriever/search.json``)."""
    if not search:
        return []

    def space(dim: dict) -> str:
        if "choices" in dim:
            return "{" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in dim["choices"]) + "}"
        return f"[{dim['low']:g}, {dim['high']:g}]{' log' if dim.get('log') else ''}"

    rows = [[key, space(dim), str(search["trials"][0]["settings"].get(key, "")) if search["trials"] else "",
             str(search["chosen"].get(key))] for key, dim in search["space"].items()]
    trials = [[str(t["number"]), t["state"], _fmt(t.get("dev")), str(t.get("epochs", "")), _fmt(t.get("seconds"), 0),
               ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["settings"].items())]
              for t in search["trials"]]
    return [Heading("The retriever's settings, searched on dev"),
            Paragraph(f"`--tune-retriever`: an Optuna search (TPE sampler, median pruning) of {len(rows)} settings on "
                      f"{search['objective']}, {search['complete']} trials finished and {search['pruned']} pruned in "
                      f"{search['seconds']:.0f} s of a {search['time_budget_s']:.0f} s budget. Trial 0 is the configured "
                      f"retriever: dev {_fmt(search['base_dev_recall'])}; kept: dev {_fmt(search['best_dev_recall'])}."),
            TableBlock(["setting", "searched", "configured (trial 0)", "chosen"], rows),
            TableBlock(["trial", "state", "dev recall@20", "epochs", "seconds", "settings"], trials,
                       caption="A pruned trial's dev figure is its best before it was stopped.")]


def coverage_blocks(state: dict) -> list:
    """Explanation coverage of what ``recgpt serve`` shows (the explanations stage's summary), when recorded."""
    summary = (state.get("stages", {}).get("explanations") or {}).get("summary", {})
    if "served_slots" not in summary:
        return []
    rows = [[scope, f"{summary[f'{key}_slots']:,}", _fmt(summary[f"{key}_interest_share"], 3),
             _fmt(summary[f"{key}_item_share"], 3), _fmt(summary[f"{key}_none_share"], 3)]
            for scope, key in (("every user", "served"), ("users with interests", "personal"))
            if summary.get(f"{key}_slots")]
    return [Heading("Explanations of what the service shows"),
            TableBlock(["users", "served slots", "interest explanation", "item-only", "none"], rows,
                       caption="Each user's served list (the first `explanations.served_depth` items `recgpt serve` "
                       "returns) looked up in the explanation table as the service does. Production wrote an "
                       f"explanation (passed or not) for {_fmt(summary.get('served_paired_share', 0.0), 3)} of the "
                       "served slots; a slot whose explanations all failed the Table 6 checks counts as 'none'.")]


def stage_blocks(state: dict, fig_dir: Path) -> list:
    from recgpt.pipeline.runner import STAGE_NAMES

    recorded = state.get("stages", {})
    if not recorded:
        return []
    order = {name: i for i, name in enumerate(STAGE_NAMES)}
    stages = dict(sorted(recorded.items(), key=lambda kv: order.get(kv[0], len(order))))
    rows = [[name, _fmt(e.get("wall_s"), 1), _fmt(e.get("cpu_s"), 1), _fmt(e.get("peak_rss_mb"), 0),
             e.get("finished_at", "")] for name, e in stages.items()]
    path = plots.stage_time_plot(fig_dir / "stages.png", [(n, float(e.get("wall_s", 0))) for n, e in stages.items()])
    return [Heading("Pipeline stages"),
            TableBlock(["stage", "wall s", "CPU s", "peak RSS MB", "finished"], rows,
                       caption="CPU s: user + system seconds of the process; on a busy machine wall time grows "
                       "with the load, CPU time much less."),
            Figure(path, "Wall time per stage (the last time each stage ran).")]


def build_report(root: Path) -> tuple[Path, Path]:
    """Write ``RUN/report/report.md`` and ``report.html`` from the run folder; return both paths."""
    run = RunFolder(Path(root))
    metrics = read_json(run.metrics)
    if metrics is None:
        raise MissingInputError(f"{run.metrics}: the evaluate stage has not finished; run `recgpt run` first")
    config = yaml.safe_load(run.config.read_text()) if run.config.exists() else {}
    fig_dir = run.figures
    ks = metrics["ks"]
    k = metrics["k_main"]
    labels = method_labels(metrics)
    data_name = metrics.get("dataset", "the data")
    llm = config.get("llm", {}) or {}
    backend = str(llm.get("backend", "?"))
    model = ((llm.get("options") or {}).get(family_of(backend)) or {}).get("model")
    setup = Bullets([
        f"Data: **{data_name}**; evaluation fold: test (history = train + dev); "
        f"{metrics['sample']['users']} sampled test user(s) with LLM tags"
        f"{', ' + str(metrics['sample_title_tags']['users']) + ' without (reported apart)' if metrics.get('sample_title_tags') else ''}"
        f", seed {metrics.get('seed', '?')}.",
        f"LLM: backend `{backend}`, model `{model or 'embedded default'}`.",
        f"Classic baseline: {metrics.get('classic_name', '?')}; fused weight beta = {metrics.get('beta_tuned', '?')} "
        "(chosen on the dev fold).",
        f"Run folder: `{Path(root).resolve()}`.",
    ])
    blocks: list = [Paragraph("Offline evaluation of a RecGPT pipeline run."), Heading("Set-up"), setup]
    blocks += verdict_blocks(metrics, k)
    blocks += accuracy_blocks(metrics, ks, labels, fig_dir)
    blocks += diversity_blocks(metrics, ks, labels, fig_dir)
    blocks += search_blocks(read_json(run.retriever / "search.json"))
    blocks += matthew_blocks(read_rows(run.deciles), k, labels, fig_dir)
    blocks += tag_eval_blocks(read_json(run.tag_eval), fig_dir)
    blocks += alignment_blocks(read_json(run.alignment_summary), read_json(run.table5), fig_dir)
    blocks += judge_blocks(read_json(run.judge_pass_rates.with_suffix(".json")), read_json(run.stages_state, {}))
    blocks += seral_blocks(read_json(run.seral_offline), read_json(run.seral_channel_metrics))
    blocks += llm_stat_blocks(run)
    blocks += coverage_blocks(read_json(run.stages_state, {}))
    blocks += case_study_blocks(run, k_show=5)
    blocks += stage_blocks(read_json(run.stages_state, {}), fig_dir)
    title = f"RecGPT evaluation report: {data_name}"
    run.report.mkdir(parents=True, exist_ok=True)
    md_path, html_path = run.report_md, run.report_html
    md_path.write_text(to_markdown(title, blocks, run.report))
    html_path.write_text(to_html(title, blocks))
    return md_path, html_path
