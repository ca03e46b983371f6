"""Training speed of the alignment trainer on real tag samples, variants side by side in one process.

    # a training set first (a run folder with phi, then the incremental-learning set):
    recgpt run --config configs/amazon-office.yaml --run-dir runs/align --until phi
    recgpt align build-il --run runs/align --config configs/amazon-office.yaml
    PYTHONPATH=src python benchmarks/bench_alignment_training.py --set runs/align/alignment/sets/tags-il.parquet

Variants (each trains the same first ``--samples`` training samples for one epoch, LoRA r16, batch 8):
  default      the trainer as shipped: completion-only loss and head, float32 weights under bf16 autocast
  trl-loss     trl 1.16's own SFT loss (every position through its chunked log-probability kernel)
  dropout      lora_dropout 0.05
  full         all weights instead of LoRA
  float32      no autocast

Prints one line per variant (seconds, training tokens/s, peak RSS of that child) and the ratio to ``default``.
Each variant runs in its own process so that peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

VARIANTS = {
    "default": {},
    "trl-loss": {"_stock_loss": True},
    "dropout": {"lora_dropout": 0.05},
    "full": {"method": "full"},
    "float32": {"bf16": False},
}

CHILD = """
import json, sys
from recgpt.alignment.config import TrainerConfig
from recgpt.alignment.records import TrainingSet
from recgpt.alignment.trainer import train
settings = json.loads(sys.argv[1])
if settings.pop("_stock_loss", False):
    import trl
    import recgpt.alignment.sft_trainer as patched
    patched.CompletionOnlySFTTrainer = trl.SFTTrainer
training_set = TrainingSet.read(sys.argv[2])
training_set.samples = training_set.split("train")[: int(sys.argv[3])]
config = TrainerConfig(epochs=1, eval_every=10_000, threads=int(sys.argv[5]), **settings)
print(json.dumps(train(training_set, sys.argv[4], config).manifest["metrics"]))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", required=True, help="a training set (.parquet) from `recgpt align build-il`")
    parser.add_argument("--samples", type=int, default=48, help="training samples per variant")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    results = {}
    for name in args.variants:
        with tempfile.TemporaryDirectory() as out:
            done = subprocess.run([sys.executable, "-W", "ignore", "-c", CHILD, json.dumps(VARIANTS[name]), args.set,
                                   str(args.samples), out, str(args.threads)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-2000:]}")
            continue
        metrics = json.loads(done.stdout.strip().splitlines()[-1])
        results[name] = metrics
        ratio = (f"  {metrics['tokens_per_s'] / results['default']['tokens_per_s']:.2f}x default"
                 if "default" in results and name != "default" else "")
        print(f"{name:10s} {metrics['seconds']:7.1f} s  {metrics['tokens_per_s']:6.1f} tokens/s  "
              f"{metrics['tokens_per_epoch']} tokens  first loss {_number(metrics['first_loss'])}  "
              f"peak RSS {metrics['peak_rss_mb'] / 1024:.1f} GB{ratio}", flush=True)


def _number(value: float | None) -> str:
    """A loss to print; None when the run was shorter than one logging interval."""
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
