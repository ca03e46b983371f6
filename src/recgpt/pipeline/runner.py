"""The main job: the ordered list of pipeline stages and ``run_pipeline``.

Stage order (each declares the files and configuration it reads, see :class:`~recgpt.pipeline.engine.Stage`)::

    data -> sample -> behavior -> phi -> retriever -> interests -> tags -> tag_eval
         -> retrieve -> explanations -> evaluate -> report
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from recgpt.pipeline import steps_core as core
from recgpt.pipeline import steps_eval as ev
from recgpt.pipeline import steps_llm as llm
from recgpt.pipeline.config import PipelineConfig
from recgpt.pipeline.engine import Stage, StageOutcome, StageRunner

DATA = ("data/items.parquet", "data/users.parquet", "data/events.parquet", "data/searches.parquet",
        "data/holdout.parquet")


def _source_files(config: PipelineConfig) -> dict[str, Path]:
    """The raw files of the configured data source (fingerprinted by content, or size+mtime when huge)."""
    from recgpt.data.loaders import DEFAULT_PATHS

    path = Path(config.data.path or DEFAULT_PATHS.get(config.data.source, "."))
    if path.is_file():
        return {path.name: path}
    return {p.name: p for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")} if path.is_dir() else {}


def build_stages() -> list[Stage]:
    from recgpt.pipeline.report import build_report

    def report(ctx):
        md, html = build_report(ctx.root)
        return {"report": str(html.relative_to(ctx.root))}

    return [
        Stage("data", "load and validate the data", core.stage_data, sections=("data",), outputs=DATA,
              external_inputs=_source_files, version="1"),
        Stage("sample", "draw the seeded sample of test users", core.stage_sample,
              sections=("evaluation.sample_users", "evaluation.seed"), inputs=("data/holdout.parquet",),
              outputs=("eval/sample.json",), version="2"),
        Stage("behavior", "extract reliable behavior and compress it", core.stage_behavior,
              sections=("compression",), inputs=DATA, outputs=("behavior/compressed.parquet",)),
        Stage("phi", "train the tag-to-category model phi", core.stage_phi, sections=("phi",),
              inputs=("data/items.parquet",), outputs=("phi/phi.json", "phi/phi.npz")),
        Stage("retriever", "train the user-item-tag retriever", core.stage_retriever, sections=("retriever",),
              inputs=DATA, outputs=("retriever/model.pt", "retriever/config.yaml")),
        Stage("interests", "mine interests with the LLM (sampled users)", llm.stage_interests,
              sections=("llm", "interests"), inputs=DATA + ("behavior/compressed.parquet", "eval/sample.json"),
              outputs=("stages/interests.parquet",)),
        Stage("tags", "predict tags with the LLM (sampled users)", llm.stage_tags,
              sections=("llm", "tags"),
              inputs=DATA + ("behavior/compressed.parquet", "eval/sample.json", "stages/interests.parquet", "phi"),
              outputs=("stages/tags.parquet",)),
        Stage("tag_eval", "category hit rate of the tags and of the no-LLM baseline", llm.stage_tag_eval,
              sections=("tag_eval",), inputs=DATA + ("stages/tags.parquet", "eval/sample.json", "phi"),
              outputs=("eval/tag_eval.json",)),
        Stage("retrieve", "retrieve with every method and tune beta on dev", ev.stage_retrieve,
              sections=("evaluation.ks", "evaluation.k_main", "evaluation.classic", "evaluation.beta_grid",
                        "evaluation.tune_users", "evaluation.all_users", "evaluation.seed"),
              inputs=DATA + ("retriever", "stages/tags.parquet", "eval/sample.json"),
              outputs=("eval/recommendations.parquet", "eval/recommendations_all.parquet", "eval/tuning.json")),
        Stage("explanations", "explain the recommended items with the LLM", llm.stage_explanations,
              sections=("llm", "explanations", "evaluation.explain_top"),
              inputs=DATA + ("stages/interests.parquet", "stages/tags.parquet", "phi", "eval/recommendations.parquet"),
              outputs=("stages/explanations.sqlite", "eval/explained.parquet")),
        Stage("evaluate", "accuracy, diversity and exposure of every method", ev.stage_evaluate,
              sections=("evaluation.ks", "evaluation.k_main", "evaluation.classic", "evaluation.seed"),
              inputs=DATA + ("eval/recommendations.parquet", "eval/recommendations_all.parquet",
                             "eval/tuning.json", "eval/sample.json"),
              outputs=("eval/metrics.json", "eval/deciles.parquet")),
        Stage("report", "write the report", report,
              inputs=("eval", "stages/interests.parquet", "stages/tags.parquet", "behavior/compressed.parquet",
                      "llm/usage.jsonl"),
              outputs=("report/report.md", "report/report.html"), version="1"),
    ]


STAGE_NAMES = [s.name for s in build_stages()]


def run_pipeline(
    config: PipelineConfig, run_dir: Path, until: str | None = None, force: tuple[str, ...] = (),
    console: Console | None = None,
) -> list[StageOutcome]:
    """Run (or resume) the pipeline into ``run_dir``; writes the resolved configuration first."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(config.to_yaml())
    runner = StageRunner(build_stages(), run_dir, config, console)
    try:
        outcomes = runner.run(until=until, force=force)
    finally:
        runtime = runner.context.shared.get("llm_runtime")
        if runtime is not None:
            runtime.close()
    runner.console.print(runner.summary_table(outcomes))
    return outcomes
