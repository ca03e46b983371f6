"""Throughput and peak memory of reliable behavior extraction + hierarchical compression, on one core.

    .venv/bin/python benchmarks/bench_throughput.py                    # 10 million events (synthetic)
    .venv/bin/python benchmarks/bench_throughput.py --events 1000000   # quicker

A child process generates the lifelong log (synthetic, see lifelong.py: ~37,000 events per user over
8 years) and saves it as Parquet; this process then loads it and runs ``compress_users`` (extraction,
item texts, partitions, both aggregation steps, token budget with the approximate counter) with polars
limited to one thread. Printed: events per second of CPU time and of wall time, and the peak resident
memory of this process (loading included, generation excluded). The machine may be shared: CPU time is
the figure that does not depend on other load.
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one core: must be set before polars is imported

import argparse  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent


def generate(folder: Path, events: int, per_user: int) -> None:
    sys.path.insert(0, str(HERE))
    from lifelong import lifelong_dataset

    from recgpt.data.store import save_dataset

    save_dataset(lifelong_dataset(max(1, round(events / per_user)), per_user), folder)


def measure(folder: Path, budget: int | None) -> None:
    import polars as pl

    from recgpt.behavior.compression import CompressionConfig, compress_users
    from recgpt.behavior.tokens import ApproxTokenCounter
    from recgpt.data.store import load_dataset

    started = time.perf_counter()
    dataset = load_dataset(folder)
    load_s = time.perf_counter() - started
    n = dataset.events.num_rows
    cfg = CompressionConfig(token_budget=budget, tokenizer="approx", fold="all")
    wall, cpu = time.perf_counter(), time.process_time()
    table = compress_users(dataset, cfg, counter=ApproxTokenCounter())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    stats = pl.from_arrow(table.select(["n_events", "n_tokens", "dropped_partitions"]))
    print(f"events: {n:,} ({dataset.users.num_rows:,} users, {dataset.items.num_rows:,} items); "
          f"polars threads: {pl.thread_pool_size()}; token budget: {budget}")
    print(f"load Parquet: {load_s:.1f} s wall")
    print(f"extraction + compression: {cpu:.1f} s CPU, {wall:.1f} s wall")
    print(f"throughput: {n / cpu:,.0f} events/s of CPU time, {n / wall:,.0f} events/s wall")
    print(f"peak RSS: {peak_gib:.2f} GiB")
    print(f"reliable events kept: {int(stats['n_events'].sum()):,}; mean tokens/user after budget: "
          f"{stats['n_tokens'].mean():,.0f}; users truncated: {int((stats['dropped_partitions'] > 0).sum())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--events-per-user", type=int, default=37_000)
    parser.add_argument("--budget", type=int, default=32_768, help="token budget (0 = none)")
    parser.add_argument("--data", type=Path, help="reuse (or create) the generated log in this folder")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        generate(args.data, args.events, args.events_per_user)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data or Path(tmp) / "lifelong"
        if not (folder / "dataset.json").exists():
            started = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--generate-only", "--data", str(folder),
                            "--events", str(args.events), "--events-per-user", str(args.events_per_user)], check=True)
            print(f"(generated the synthetic log in {time.perf_counter() - started:.0f} s, child process)")
        measure(folder, args.budget or None)


if __name__ == "__main__":
    main()
