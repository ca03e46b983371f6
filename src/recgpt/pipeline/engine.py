"""A small resumable stage runner: each stage declares its inputs, config sections and outputs.

A stage finishes by recording its fingerprint (see :mod:`recgpt.pipeline.fingerprint`) in
``RUN/stages.json``. On the next run a stage is skipped when all its outputs exist and its fingerprint is
unchanged; otherwise it runs again, and since every consumer lists its producers' outputs among its
inputs, a change ripples downstream exactly as far as the bytes actually changed.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import psutil

from recgpt.errors import RecgptError
from recgpt.pipeline.fingerprint import changed_keys, fingerprint
from recgpt.progress import ProgressFn, reporter
from recgpt.runfolder import RunFolder

log = logging.getLogger("recgpt.pipeline")


class StageError(RecgptError):
    """A stage was asked for that does not exist, or finished without writing what it declares."""


@dataclass
class StageContext:
    """What a stage function receives: the run folder, the full configuration and a scratch dictionary
    for objects shared within one process (for example a loaded dataset)."""

    root: Path
    config: Any
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def run(self) -> RunFolder:
        return RunFolder(self.root)


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline.

    ``sections``: dotted names of the configuration values the stage reads (``"llm"``,
    ``"evaluation.sample_users"``). ``inputs``/``outputs``: paths relative to the run folder.
    ``external_inputs``: a function of the configuration giving files outside the run folder (raw data).
    ``run`` returns a small summary dictionary (counts, figures) stored with the stage's state.
    ``version`` is bumped when the stage's code changes meaning, to force a rerun.
    ``check``: run after the stage, whether it ran or was skipped, before any later stage (a pre-flight check
    such as the memory estimate after the data stage); it raises to stop the run.
    """

    name: str
    description: str
    run: Callable[[StageContext], dict[str, Any] | None]
    sections: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    external_inputs: Callable[[Any], dict[str, Path]] | None = None
    version: str = "1"
    check: Callable[[StageContext], None] | None = None


@dataclass
class StageOutcome:
    name: str
    status: str  # "ran" | "skipped"
    wall_s: float
    peak_rss_mb: float
    reason: list[str]
    summary: dict[str, Any]
    cpu_s: float = 0.0


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children. On a busy machine wall time
    grows with the load while CPU time stays close to what the work needs on idle cores."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def config_value(config: Any, dotted: str) -> Any:
    node = config
    for part in dotted.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node


class StageState:
    """``RUN/stages.json``: {stage name: {fingerprint, document, finished_at, wall_s, peak_rss_mb, summary}}."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        if path.exists():
            try:
                self.entries = json.loads(path.read_text()).get("stages", {})
            except json.JSONDecodeError:
                self.entries = {}  # a run killed while writing: every stage is checked again

    def get(self, name: str) -> dict[str, Any] | None:
        return self.entries.get(name)

    def set(self, name: str, entry: dict[str, Any] | None) -> None:
        if entry is None:
            self.entries.pop(name, None)
        else:
            self.entries[name] = entry
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"stages": self.entries}, indent=2, sort_keys=False, default=str))
        os.replace(tmp, self.path)


class PeakMemory:
    """Peak resident memory of this process (and its children) while the block runs, sampled every 20 ms."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _rss(self) -> int:
        total = self._proc.memory_info().rss
        for child in self._proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakMemory":
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


class StageRunner:
    """Runs ``stages`` in order into ``root``; see the module docstring for the skip rule."""

    def __init__(self, stages: list[Stage], root: Path, config: Any, progress: ProgressFn | None = None):
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise StageError(f"duplicate stage names: {names}")
        self.stages = stages
        self.root = Path(root)
        self.config = config
        self.progress = reporter(progress)
        self.state = StageState(RunFolder(self.root).stages_state)
        self.context = StageContext(self.root, config)

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise StageError(f"unknown stage {name!r}; stages are: {', '.join(s.name for s in self.stages)}")

    def fingerprint_of(self, stage: Stage) -> tuple[str, dict[str, Any]]:
        config = {section: config_value(self.config, section) for section in stage.sections}
        inputs = {rel: self.root / rel for rel in stage.inputs}
        if stage.external_inputs is not None:
            inputs.update({f"external:{k}": Path(v) for k, v in stage.external_inputs(self.config).items()})
        return fingerprint(stage.version, config, inputs)

    def is_current(self, stage: Stage) -> tuple[bool, list[str], str, dict[str, Any]]:
        """(skip?, reasons to rerun, fingerprint, document)."""
        fp, doc = self.fingerprint_of(stage)
        entry = self.state.get(stage.name)
        missing = [rel for rel in stage.outputs if not (self.root / rel).exists()]
        if entry is not None and entry.get("fingerprint") == fp and not missing:
            return True, [], fp, doc
        reasons = changed_keys(entry.get("document") if entry else None, doc)
        reasons += [f"missing output {rel}" for rel in missing]
        return False, reasons or ["changed"], fp, doc

    def run(self, until: str | None = None, force: tuple[str, ...] = ()) -> list[StageOutcome]:
        """Run every stage in order (up to and including ``until``); ``force`` names stages to rerun."""
        if until is not None:
            self.stage(until)
        for name in force:
            self.stage(name)
        self.root.mkdir(parents=True, exist_ok=True)
        outcomes: list[StageOutcome] = []
        for index, stage in enumerate(self.stages, 1):
            current, reasons, fp, doc = self.is_current(stage)
            tag = f"[{index}/{len(self.stages)}] {stage.name}"
            self.progress("pipeline", index - 1, len(self.stages), stage=stage.name)
            if current and stage.name not in force:
                entry = self.state.get(stage.name) or {}
                log.info("%s: unchanged, skipped", tag)
                outcomes.append(StageOutcome(stage.name, "skipped", 0.0, 0.0, [], entry.get("summary", {})))
            else:
                why = "forced" if stage.name in force else ", ".join(reasons[:4])
                log.info("%s: %s (%s)", tag, stage.description, why)
                self.state.set(stage.name, None)  # a stage killed halfway is not "finished"
                for rel in stage.outputs:
                    (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
                start, cpu_start = time.perf_counter(), cpu_seconds()
                with PeakMemory() as memory:
                    summary = stage.run(self.context) or {}
                wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
                fp, doc = self.fingerprint_of(stage)  # inputs may be re-read; record what was used
                missing = [rel for rel in stage.outputs if not (self.root / rel).exists()]
                if missing:
                    raise StageError(f"stage {stage.name} finished without writing {', '.join(missing)}")
                peak_mb = memory.peak / 2**20
                self.state.set(
                    stage.name,
                    {
                        "fingerprint": fp,
                        "document": doc,
                        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "wall_s": round(wall, 3),
                        "cpu_s": round(cpu, 3),
                        "peak_rss_mb": round(peak_mb, 1),
                        "summary": summary,
                    },
                )
                log.info("%s: done in %.1f s (CPU %.1f s), peak RSS %.0f MB", tag, wall, cpu, peak_mb)
                outcomes.append(StageOutcome(stage.name, "ran", wall, peak_mb, reasons, summary, cpu))
            if stage.check is not None:
                stage.check(self.context)
            if until is not None and stage.name == until:
                break
        self.progress("pipeline", len(outcomes), len(self.stages))
        return outcomes
