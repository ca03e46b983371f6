"""The main job: the ordered list of pipeline stages and ``run_pipeline``.

Stage order (each declares the files and configuration it reads, see :class:`~recgpt.pipeline.engine.Stage`)::

    data -> sample -> behavior -> phi -> retriever -> interests -> align -> tags -> tag_eval
         -> retrieve -> align_eval -> explanations -> evaluate -> report

``align`` and ``align_eval`` do work only with ``alignment.enabled`` (otherwise they record that they are off).
"""

from __future__ import annotations

import os
from pathlib import Path

from recgpt.pipeline import steps_align as align
from recgpt.pipeline import steps_core as core
from recgpt.pipeline import steps_eval as ev
from recgpt.pipeline import steps_llm as llm
from recgpt.pipeline.config import PipelineConfig
from recgpt.pipeline.engine import Stage, StageOutcome, StageRunner
from recgpt.progress import ProgressFn
from recgpt.retrieval.saved import SAVED_MODEL
from recgpt.runfolder import RunFolder


def _source_files(config: PipelineConfig) -> dict[str, Path]:
    """Every file the configured data source reads (the mapping YAML and each file it names, for custom
    data), fingerprinted by content (size + mtime when huge), labelled relative to the source."""
    from recgpt.data.loaders import source_files, source_path

    base = source_path(config.data.source, config.data.path)
    base = base if base.is_dir() else base.parent
    return {os.path.relpath(path, base): path for path in source_files(config.data.source, config.data.path)}


def build_stages() -> list[Stage]:
    from recgpt.pipeline.report import build_report

    def report(ctx):
        _, html = build_report(ctx.root)
        return {"report": ctx.run.rel(html)}

    r = RunFolder(Path(""))  # run-relative paths, the form stage declarations take
    data = tuple(map(str, r.data_tables))
    compressed, sample, phi, retriever = str(r.compressed), str(r.sample), str(r.phi), str(r.retriever)
    interests, tags, recommendations = str(r.interests), str(r.tags), str(r.recommendations)
    aligned = str(r.alignment_summary)
    return [
        Stage("data", "load and validate the data", core.stage_data, sections=("data",), outputs=data,
              external_inputs=_source_files, check=core.check_memory),
        Stage("sample", "draw the seeded sample of test users", core.stage_sample,
              sections=("evaluation.sample_users", "evaluation.seed"), inputs=(str(r.table("holdout")),),
              outputs=(sample,), version="2"),
        Stage("behavior", "extract reliable behavior and compress it", core.stage_behavior,
              sections=("compression",), inputs=data, outputs=(compressed,)),
        Stage("phi", "train the tag-to-category model phi", core.stage_phi, sections=("phi",),
              inputs=(str(r.table("items")),), outputs=(phi,)),
        Stage("retriever", "train the user-item-tag retriever", core.stage_retriever,
              sections=("retriever", "retriever_search"),
              inputs=data, outputs=(str(r.retriever / SAVED_MODEL),)),
        Stage("interests", "mine interests with the LLM (sampled users)", llm.stage_interests,
              sections=("llm", "interests", "judge.run_filter", "judge.llm", "judge.rubric_version"),
              inputs=data + (compressed, sample),
              outputs=(interests,)),
        Stage("align", "fine-tune the tag model on the incremental-learning set", align.stage_align,
              sections=("alignment.enabled", "alignment.incremental", "alignment.trainer", "llm", "tags"),
              inputs=data + (phi, interests), outputs=(aligned,)),
        Stage("tags", "predict tags with the LLM (sampled users)", llm.stage_tags,
              sections=("llm", "tags", "alignment.enabled", "judge.run_filter", "judge.llm", "judge.rubric_version"),
              inputs=data + (compressed, sample, interests, phi, aligned), outputs=(tags,)),
        Stage("tag_eval", "category hit rate of the tags and of the no-LLM baseline", llm.stage_tag_eval,
              sections=("tag_eval",), inputs=data + (tags, sample, phi), outputs=(str(r.tag_eval),)),
        Stage("retrieve", "retrieve with every method and tune beta on dev", ev.stage_retrieve,
              sections=("evaluation.ks", "evaluation.k_main", "evaluation.classic", "evaluation.beta_grid",
                        "evaluation.tune_users", "evaluation.all_users", "evaluation.seed",
                        "evaluation.classic_options", "evaluation.tune_baselines", "evaluation.classic_grid",
                        "evaluation.sequential", "retriever.threads", "evaluation.beta_criterion",
                        "evaluation.beta_tolerance"),
              inputs=data + (retriever, tags, sample),
              outputs=(recommendations, str(r.recommendations_all), str(r.tuning)), version="2"),
        Stage("align_eval", "tag hit rates of the base and the tuned model (Table 5)", align.stage_align_eval,
              sections=("alignment.enabled", "alignment.evaluation", "llm", "tags", "evaluation.ks",
                        "evaluation.k_main"),
              inputs=data + (aligned, sample, phi, interests, tags, str(r.stage_summary("tags")), retriever,
                             str(r.tuning)),
              outputs=(str(r.table5),), version="2"),
        Stage("explanations", "explain the recommended items with the LLM", llm.stage_explanations,
              sections=("llm", "explanations", "evaluation.explain_top", "judge.run_filter", "judge.llm",
                        "judge.rubric_version"),
              inputs=data + (interests, tags, phi, recommendations, retriever, str(r.tuning)),
              outputs=(str(r.explanations), str(r.explained)), version="2"),
        Stage("evaluate", "accuracy, diversity and exposure of every method", ev.stage_evaluate,
              sections=("evaluation.ks", "evaluation.k_main", "evaluation.classic", "evaluation.seed"),
              inputs=data + (recommendations, str(r.recommendations_all), str(r.tuning), sample),
              outputs=(str(r.metrics), str(r.deciles))),
        Stage("report", "write the report", report,
              inputs=(str(r.eval), interests, tags, compressed, str(r.llm_usage), str(r.retriever / "search.json"),
                      str(r.table5)),
              outputs=(str(r.report_md), str(r.report_html))),
    ]


STAGE_NAMES = [s.name for s in build_stages()]


def run_pipeline(
    config: PipelineConfig, run_dir: Path, until: str | None = None, force: tuple[str, ...] = (),
    progress: ProgressFn | None = None,
) -> list[StageOutcome]:
    """Run (or resume) the pipeline into ``run_dir``; writes the resolved configuration first."""
    run = RunFolder(Path(run_dir))
    run.root.mkdir(parents=True, exist_ok=True)
    run.config.write_text(config.to_yaml())
    runner = StageRunner(build_stages(), run.root, config, progress)
    try:
        return runner.run(until=until, force=force)
    finally:
        for key in ("llm_runtime", "llm_runtime_tuned"):
            runtime = runner.context.shared.get(key)
            if runtime is not None:
                runtime.close()
