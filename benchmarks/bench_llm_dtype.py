"""bfloat16 against float32 for the torch engine on this CPU: one prefill and decode steps, side by side.

Whether bfloat16 is faster depends on the CPU: with AMX-BF16 tiles (Sapphire Rapids) it is, with only
AVX512-BF16 matrix products run at less than half their float32 speed. ``recgpt/hardware.py`` reads the flags
(``dtype: auto``); this measures what the choice is worth here.

    .venv/bin/python benchmarks/bench_llm_dtype.py --threads 2 --prompt 600 --batches 8 32

Each dtype runs in its own process (random token ids, the embedded SmolLM2-135M): the seconds of a
``--prompt``-token prefill (median of 3) and the median decode step of a batch after it (20 steps).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, statistics, sys, time
import torch
from recgpt.llm.torch_kv_cache import preallocated_cache
from recgpt.llm.torch_model import load_model, resolve_source
dtype, threads, prompt, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
torch.set_num_threads(threads)
model = load_model(resolve_source(None), dtype=dtype).model
result = {}
with torch.inference_mode():
    ids = torch.randint(100, 40000, (1, prompt))
    times = []
    for _ in range(3):
        cache = preallocated_cache(model.config, prompt)
        start = time.perf_counter()
        model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
        times.append(time.perf_counter() - start)
    result["prefill_s"] = statistics.median(times)
    for batch in batches:
        cache = preallocated_cache(model.config, prompt + 32)
        mask = torch.ones(batch, prompt + 32, dtype=torch.long)
        model(input_ids=torch.randint(100, 40000, (batch, prompt)), past_key_values=cache, use_cache=True,
              logits_to_keep=1)
        steps = []
        for step in range(20):
            start = time.perf_counter()
            model(input_ids=torch.randint(100, 40000, (batch, 1)), attention_mask=mask[:, : prompt + step + 1],
                  position_ids=torch.full((batch, 1), prompt + step), past_key_values=cache, use_cache=True)
            steps.append(time.perf_counter() - start)
        result[f"decode_step_s_batch_{batch}"] = statistics.median(steps)
print(json.dumps(result))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt", type=int, default=600, help="prompt tokens")
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32], help="decode batch sizes")
    args = parser.parse_args()
    from recgpt.hardware import has_amx_bf16

    print(f"CPU with AMX-BF16: {has_amx_bf16()}")
    results = {}
    for dtype in ("bfloat16", "float32"):
        done = subprocess.run([sys.executable, "-W", "ignore", "-c", CHILD, dtype, str(args.threads), str(args.prompt),
                               json.dumps(args.batches)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{dtype}: failed\n{done.stderr[-2000:]}")
            return
        results[dtype] = json.loads(done.stdout.strip().splitlines()[-1])
    print("| figure | bfloat16 | float32 | float32 speed-up |\n|---|---:|---:|---:|")
    for key in results["bfloat16"]:
        bf, fp = results["bfloat16"][key], results["float32"][key]
        print(f"| {key} | {bf:.3f} | {fp:.3f} | {bf / fp:.2f}x |")


if __name__ == "__main__":
    main()
