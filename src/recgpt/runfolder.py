"""The layout of a run folder: the one place that names every file and folder a run writes, so stages,
commands and the report find each other's tables.

    RUN/
      config.yaml                      the resolved configuration of the run
      stages.json                      which pipeline stages finished, with the fingerprint of their inputs
      data/                            canonical tables: items, users, events, searches, holdout (.parquet)
      behavior/compressed.parquet      one row per user: compressed reliable behavior (report 2.1.1)
      llm/cache.sqlite                 the LLM runtime's persistent answer cache
      llm/usage.jsonl                  one line per LLM call: tokens, latency, cache hit, failure
      llm/blocks/block-<id>.parquet    the Ray executor's answers, one file per block of requests, keyed by
                                       cache key (folded into cache.sqlite as each block finishes)
      stages/interests.parquet         mined interests that passed the checks (report 2.1.2)
      stages/interests_all.parquet     every mined interest with its post-check verdict
      stages/tags.parquet              predicted tags with verdict and phi category (report 2.2)
      stages/explanations.sqlite       the interest-item-explanation lookup table (report 2.4.2)
      stages/<stage>_summary.json      counts, tokens and pass rate of the last run of a stage
      phi/                             the tag-to-category model
      retriever/                       the trained user-item-tag retriever (and its index; checkpoint.pt
                                       while training)
      eval/                            the evaluation: user sample, every method's lists, metrics, tag HR@K,
                                       batch_recommendations.parquet (recgpt recommend-all)
      judge/                           judge buffer, pass rates, milestone check, fine-tuning export; the trained
                                       judge: train.parquet, model/, deployed.json
      alignment/sets/<name>.parquet    training sets of the stage models (+ <name>.jsonl, chat JSON Lines)
      alignment/models/<name>/         a fine-tuned adapter (adapter/) or model (model/) with manifest.json
      alignment/summary.json           what the pipeline's align stage did (the adapter it serves the tags stage)
      alignment/table5.json            tag HR@K of the base and the tuned model (report Table 5)
      alignment/sets/curriculum-<subtask>.parquet, models/curriculum-<order>-<subtask>/   curriculum (App. C)
      alignment/sets/<task>-teacher.parquet, models/<task>-teacher/     distillation (pre-alignment)
      alignment/sets/<task>-self-r<N>.parquet, models/<task>-self-r<N>/ self-training round N
      alignment/loop.json, loop.md     `recgpt align loop`: finished steps (fingerprints, figures) and report
      seral/truth.parquet              serendipity ground truth: each user's held-out next item, serendipitous or not
      seral/profiles.parquet           cognition profiles (long-term, recent, neighbouring never-touched categories)
      seral/candidates.parquet         offline candidate sets (the real serendipitous item + new-category items)
      seral/offline.json               Hit@1 / NDCG@3 of each scorer on the candidate sets
      seral/pairs.parquet              SerenGPT's preference pairs (logs + collaborative data intervention)
      seral/models/<name>/             an IPO-aligned SerenGPT (adapter/ and manifest.json)
      seral/judgments.sqlite           the nearline channel's cached judgments per (user, profile version, item)
      seral/channel.parquet            final lists with the reserved serendipity slots; channel.json their figures
      report/                          report.md, report.html and figures/
      serve/vectors.safetensors        `recgpt serve`'s start-up cache of tag and interest vectors
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recgpt.errors import UnknownNameError

#: The canonical tables of ``RUN/data`` (one Parquet file each), see :mod:`recgpt.data.schema`.
DATA_TABLES = ("items", "users", "events", "searches", "holdout")


def llm_block_file(blocks_dir: Path, block_id: str) -> Path:
    """``<blocks_dir>/block-<id>.parquet``: one block of answers written by an executor's worker."""
    return Path(blocks_dir) / f"block-{block_id}.parquet"


@dataclass(frozen=True)
class RunFolder:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def ensure(self) -> "RunFolder":
        for folder in (self.data, self.behavior, self.llm, self.stages, self.phi, self.retriever, self.eval,
                       self.judge, self.report):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def rel(self, path: Path) -> str:
        """``path`` relative to the run folder, the form pipeline stages declare their files in."""
        return str(Path(path).relative_to(self.root))

    # ------------------------------------------------------------------ the run
    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def stages_state(self) -> Path:
        return self.root / "stages.json"

    # ------------------------------------------------------------------ data and behavior
    @property
    def data(self) -> Path:
        return self.root / "data"

    def table(self, name: str) -> Path:
        """``RUN/data/<name>.parquet`` for a name of :data:`DATA_TABLES`."""
        if name not in DATA_TABLES:
            raise UnknownNameError(f"unknown data table {name!r}; tables: {', '.join(DATA_TABLES)}")
        return self.data / f"{name}.parquet"

    @property
    def data_tables(self) -> tuple[Path, ...]:
        return tuple(self.table(name) for name in DATA_TABLES)

    @property
    def behavior(self) -> Path:
        return self.root / "behavior"

    @property
    def compressed(self) -> Path:
        return self.behavior / "compressed.parquet"

    # ------------------------------------------------------------------ LLM stages
    @property
    def llm(self) -> Path:
        return self.root / "llm"

    @property
    def llm_cache(self) -> Path:
        return self.llm / "cache.sqlite"

    @property
    def llm_usage(self) -> Path:
        return self.llm / "usage.jsonl"

    @property
    def llm_blocks(self) -> Path:
        """The Ray executor's per-block answer files (see :func:`llm_block_file`)."""
        return self.llm / "blocks"

    def llm_block(self, block_id: str) -> Path:
        return llm_block_file(self.llm_blocks, block_id)

    @property
    def stages(self) -> Path:
        return self.root / "stages"

    @property
    def interests(self) -> Path:
        return self.stages / "interests.parquet"

    @property
    def interests_all(self) -> Path:
        return self.stages / "interests_all.parquet"

    @property
    def tags(self) -> Path:
        return self.stages / "tags.parquet"

    @property
    def explanations(self) -> Path:
        return self.stages / "explanations.sqlite"

    def stage_summary(self, stage: str) -> Path:
        """``RUN/stages/<stage>_summary.json`` (interests, tags, explanations)."""
        return self.stages / f"{stage}_summary.json"

    @property
    def phi(self) -> Path:
        return self.root / "phi"

    # ------------------------------------------------------------------ retrieval
    @property
    def retriever(self) -> Path:
        return self.root / "retriever"

    @property
    def retriever_checkpoint(self) -> Path:
        """Epoch checkpoint of a training in progress (removed when it finishes)."""
        return self.retriever / "checkpoint.pt"

    # ------------------------------------------------------------------ evaluation
    @property
    def eval(self) -> Path:
        return self.root / "eval"

    @property
    def sample(self) -> Path:
        """The seeded sample of test users the LLM stages run on."""
        return self.eval / "sample.json"

    @property
    def recommendations(self) -> Path:
        """method, user_id, rank, item_id, score: every method's lists for the sampled users."""
        return self.eval / "recommendations.parquet"

    @property
    def recommendations_all(self) -> Path:
        """The same for every test user, for the methods that need no LLM."""
        return self.eval / "recommendations_all.parquet"

    @property
    def batch_recommendations(self) -> Path:
        """user_id, rank, item_id, score: the batch retrieval job's top-k of every user (``recgpt recommend-all``)."""
        return self.eval / "batch_recommendations.parquet"

    @property
    def tuning(self) -> Path:
        """The fusion weight beta tuned on dev, with the dev recall of every beta tried."""
        return self.eval / "tuning.json"

    @property
    def explained(self) -> Path:
        """user_id, rank, item_id, title, category, interest, explanation, source of every shown item."""
        return self.eval / "explained.parquet"

    @property
    def metrics(self) -> Path:
        return self.eval / "metrics.json"

    @property
    def deciles(self) -> Path:
        """method, population, k, decile, exposure, target_users, hit_rate (the Matthew plot)."""
        return self.eval / "deciles.parquet"

    @property
    def tag_eval(self) -> Path:
        """Category HR@K of the tags and of the no-LLM baselines (report Table 5)."""
        return self.eval / "tag_eval.json"

    # ------------------------------------------------------------------ judge
    @property
    def judge(self) -> Path:
        return self.root / "judge"

    @property
    def judge_buffer(self) -> Path:
        return self.judge / "buffer.sqlite"

    @property
    def judge_pass_rates(self) -> Path:
        """``pass_rates.md``; the JSON twin is ``pass_rates.json``."""
        return self.judge / "pass_rates.md"

    @property
    def judge_check(self) -> Path:
        return self.judge / "check.json"

    @property
    def judge_export(self) -> Path:
        """The rebalanced judge fine-tuning set (chat JSON Lines)."""
        return self.judge / "train.jsonl"

    @property
    def judge_training_set(self) -> Path:
        """``RUN/judge/train.parquet``: the judge's fine-tuning set (rebalanced human verdicts, training split)."""
        return self.judge / "train.parquet"

    @property
    def judge_model(self) -> Path:
        """``RUN/judge/model/``: the fine-tuned judge (adapter/ and manifest.json)."""
        return self.judge / "model"

    @property
    def judge_deployed(self) -> Path:
        """``RUN/judge/deployed.json``: the trained judge's agreement before and after, and whether it is deployed
        (then ``recgpt judge`` and the alignment filters grade with it, unless judge.use_deployed is off)."""
        return self.judge / "deployed.json"

    # ------------------------------------------------------------------ alignment
    @property
    def alignment(self) -> Path:
        return self.root / "alignment"

    def training_set(self, name: str) -> Path:
        """``RUN/alignment/sets/<name>.parquet``."""
        return self.alignment / "sets" / f"{name}.parquet"

    def tuned_model(self, name: str) -> Path:
        """``RUN/alignment/models/<name>/``: ``adapter/`` (LoRA) or ``model/`` (full) and ``manifest.json``."""
        return self.alignment / "models" / name

    @property
    def alignment_summary(self) -> Path:
        """What the pipeline's ``align`` stage did (``enabled``, the adapter, the set's counts, training figures)."""
        return self.alignment / "summary.json"

    @property
    def table5(self) -> Path:
        return self.alignment / "table5.json"

    def curriculum_set(self, subtask: str) -> Path:
        """``RUN/alignment/sets/curriculum-<subtask>.parquet``: one curriculum subtask's samples (Appendix C)."""
        return self.training_set(f"curriculum-{subtask}")

    def curriculum_model(self, step: str) -> Path:
        """``RUN/alignment/models/curriculum-<order>-<subtask>/``: the adapter after one curriculum step."""
        return self.tuned_model(f"curriculum-{step}")

    def curriculum_report(self, order: str) -> Path:
        """``RUN/alignment/curriculum-<order>.json``: the plan, counts and training figures of a curriculum."""
        return self.alignment / f"curriculum-{order}.json"

    def distill_set(self, task: str) -> Path:
        """``RUN/alignment/sets/<task>-teacher.parquet``: a teacher's kept answers (source ``teacher``)."""
        return self.training_set(f"{task}-teacher")

    def distill_model(self, task: str) -> Path:
        """``RUN/alignment/models/<task>-teacher/``: the student pre-aligned on the teacher's answers."""
        return self.tuned_model(f"{task}-teacher")

    def self_set(self, task: str, round: int) -> Path:
        """``RUN/alignment/sets/<task>-self-r<round>.parquet``: self-training round ``round``'s kept answers."""
        return self.training_set(f"{task}-self-r{round}")

    def self_model(self, task: str, round: int) -> Path:
        """``RUN/alignment/models/<task>-self-r<round>/``: the student after self-training round ``round``."""
        return self.tuned_model(f"{task}-self-r{round}")

    def pass_rates(self, task: str) -> Path:
        """``RUN/alignment/pass-rates-<task>.json``: held-out pass rates of named models (`recgpt align pass-rates`)."""
        return self.alignment / f"pass-rates-{task}.json"

    @property
    def loop_state(self) -> Path:
        """``RUN/alignment/loop.json``: the alignment loop's finished steps with their fingerprints and figures."""
        return self.alignment / "loop.json"

    @property
    def loop_report(self) -> Path:
        """``RUN/alignment/loop.md``: the alignment loop's report (pass rates per step, sets, adapters, time)."""
        return self.alignment / "loop.md"
    # ------------------------------------------------------------------ seral
    @property
    def seral(self) -> Path:
        return self.root / "seral"

    @property
    def seral_truth(self) -> Path:
        """user_id, item_id, fold, category, serendipitous, history_items, history_categories."""
        return self.seral / "truth.parquet"

    @property
    def seral_profiles(self) -> Path:
        return self.seral / "profiles.parquet"

    @property
    def seral_candidates(self) -> Path:
        return self.seral / "candidates.parquet"

    @property
    def seral_offline(self) -> Path:
        return self.seral / "offline.json"

    @property
    def seral_pairs(self) -> Path:
        return self.seral / "pairs.parquet"

    def seral_model(self, name: str) -> Path:
        """``RUN/seral/models/<name>/``: an IPO-aligned SerenGPT adapter with its manifest."""
        return self.seral / "models" / name

    @property
    def seral_judgments(self) -> Path:
        return self.seral / "judgments.sqlite"

    @property
    def seral_channel(self) -> Path:
        """user_id, rank, item_id, channel (base | serendipity), score of every final list."""
        return self.seral / "channel.parquet"

    @property
    def seral_channel_metrics(self) -> Path:
        return self.seral / "channel.json"

    # ------------------------------------------------------------------ serving
    @property
    def serve(self) -> Path:
        return self.root / "serve"

    @property
    def serve_vectors(self) -> Path:
        """Tag-tower vectors of the titles and LLM tags and MiniLM vectors of the interests, for serving."""
        return self.serve / "vectors.safetensors"

    # ------------------------------------------------------------------ report
    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def report_md(self) -> Path:
        return self.report / "report.md"

    @property
    def report_html(self) -> Path:
        return self.report / "report.html"

    @property
    def figures(self) -> Path:
        return self.report / "figures"
