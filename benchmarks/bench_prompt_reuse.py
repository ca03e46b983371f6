"""The interest, tag and explanation stages of the torch engine before and after prompt-prefix reuse, on the same users.

Variants, each on a fresh copy of the run folder (a fresh LLM cache) in its own process:
  before   bfloat16, no prefix reuse, tags template v1 and explanations v1 (interest and product first)
  dtype    the dtype ``auto`` picks on this CPU, no prefix reuse, templates v1
  after    the shipped defaults: dtype auto, prefix reuse, tags v4 and explanations v3 (shared text first)

    recgpt run --config configs/amazon-office.yaml --run-dir runs/reuse --until retrieve
    PYTHONPATH=src python benchmarks/bench_prompt_reuse.py --run runs/reuse --users 8

Prints per variant and stage the wall seconds (model loading included), LLM calls, prompt tokens and the
post-check pass rate, then each stage's time as a ratio to ``before``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

VARIANTS = {
    "before": {"dtype": "bfloat16", "prefix_cache_mb": 0, "tags": "v1", "explanations": "v1"},
    "dtype": {"dtype": "auto", "prefix_cache_mb": 0, "tags": "v1", "explanations": "v1"},
    "after": {},
}
STAGES = {"interests": "interests", "tags": "tags", "explain": "explanations"}
KEEP = ("config.yaml", "stages.json", "data", "phi", "behavior", "retriever", "eval")


def variant_config(config: Path, settings: dict, out: Path) -> Path:
    data = yaml.safe_load(config.read_text())
    torch = data.setdefault("llm", {}).setdefault("options", {}).setdefault("torch", {})
    for key in ("dtype", "prefix_cache_mb"):
        if key in settings:
            torch[key] = settings[key]
    for block in ("tags", "explanations"):
        if block in settings:
            data.setdefault(block, {})["template_version"] = settings[block]
    path = out / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def copy_run(run: Path, out: Path) -> Path:
    target = out / "run"
    for name in KEEP:
        source = run / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        elif source.exists():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="a run folder with data, phi, behavior, the retriever and its recommendations")
    ap.add_argument("--config", type=Path, default=Path("configs/amazon-office.yaml"))
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = ap.parse_args()
    seconds: dict[tuple[str, str], float] = {}
    print("| variant | stage | seconds | calls | prompt tokens | pass rate |\n|---|---|---|---|---|---|")
    for name in args.variants:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            run, config = copy_run(args.run, out), variant_config(args.config, VARIANTS[name], out)
            for command, stage in STAGES.items():
                start = time.perf_counter()
                done = subprocess.run([sys.executable, "-W", "ignore", "-m", "recgpt.cli.main", command, "--run", str(run),
                                       "--config", str(config), "--sample-users", str(args.users)],
                                      capture_output=True, text=True)
                seconds[name, stage] = time.perf_counter() - start
                if done.returncode != 0:
                    print(f"{name} {stage}: failed\n{done.stderr[-2000:]}")
                    continue
                summary = json.loads((run / "stages" / f"{stage}_summary.json").read_text())
                print(f"| {name} | {stage} | {seconds[name, stage]:.1f} | {summary['counts']['calls']} | "
                      f"{summary['usage']['prompt_tokens']} | {summary['pass_rate']:.3f} |", flush=True)
    if "before" in args.variants:
        for name in args.variants:
            ratios = ", ".join(f"{stage} {seconds['before', stage] / seconds[name, stage]:.2f}x"
                               for stage in STAGES.values() if (name, stage) in seconds)
            print(f"{name}: faster than before by {ratios}")


if __name__ == "__main__":
    main()
