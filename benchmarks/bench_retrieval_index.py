"""Index latency (batch 1, p50/p99), memory and approximate recall@100 against exact search.

Two catalogs: the Amazon Office item vectors of a trained retriever (``--model RUN/retriever``; without it,
unit-norm random vectors of the same shape), and a generated catalog of ``--n-large`` items (default 1,000,000)
drawn as a mixture of 2,000 clusters on the unit sphere (d = 64, noise 0.1 per dimension), queries drawn the same way.
Latency is timed over the first 1,000 queries (200 for brute force on the large catalog); recall over all queries.
IVF and HNSW are built once and swept over ``--nprobe`` / ``--ef-search``.

    .venv/bin/python benchmarks/bench_retrieval_index.py --model runs/office/retriever --threads 1
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
import psutil

from recgpt.retrieval.index import make_index


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int, clusters: int, spread: float, rng) -> np.ndarray:
    centers = unit(rng.normal(size=(clusters, dim)))
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        size = min(100_000, n - start)
        c = centers[rng.integers(0, clusters, size)]
        out[start : start + size] = unit(c + spread * rng.normal(size=(size, dim)).astype(np.float32))
    return out


def latency(index, queries: np.ndarray, k: int) -> tuple[float, float]:
    times = []
    for q in queries:
        start = time.perf_counter()
        index.search(q[None, :], k)
        times.append(time.perf_counter() - start)
    times = np.array(times[5:]) * 1000.0
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact)]))


def index_bytes(index) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        index.save(tmp)
        return (Path(tmp) / "index.faiss").stat().st_size


def report(name: str, vectors: np.ndarray, queries: np.ndarray, specs: list[tuple], k: int) -> None:
    """specs: (kind, build options, [search-time options, ...]); one table row per search-time setting."""
    print(f"\n## {name}: {len(vectors):,} items x {vectors.shape[1]} dims, {len(queries)} queries, batch 1, k={k}")
    print("| index | build s | memory MiB (file / RSS growth) | p50 ms | p99 ms | recall@100 vs exact |")
    print("|---|---|---|---|---|---|")
    exact_ids = None
    for kind, options, settings in specs:
        rss = psutil.Process().memory_info().rss
        start = time.perf_counter()
        index = make_index(kind, **options).build(vectors)
        build = time.perf_counter() - start
        grown = (psutil.Process().memory_info().rss - rss) / 2**20
        size = index_bytes(index) / 2**20
        for setting in settings or [{}]:
            index.options.update(setting)
            index._configure()
            timed = queries[: 200 if kind == "exact" and len(vectors) > 100_000 else 1000]  # brute force is slow
            p50, p99 = latency(index, timed, k)
            ids = index.search(queries, 100)[1]
            if kind == "exact":
                exact_ids = ids
            rec = recall(ids, exact_ids) if exact_ids is not None else float("nan")
            shown = {a: index.options[a] for a in options | setting}  # as built (IVF caps nlist)
            label = kind + ("" if not shown else " " + ",".join(f"{a}={b}" for a, b in shown.items()))
            print(f"| {label} | {build:.1f} | {size:.0f} / {grown:.0f} | {p50:.3f} | {p99:.3f} | {rec:.4f} |",
                  flush=True)
        del index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a saved TARRecommender folder (its item vectors)")
    parser.add_argument("--n-large", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--skip-small", action="store_true", help="only the generated large catalog")
    parser.add_argument("--skip-large", action="store_true", help="only the Amazon Office catalog")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[32, 64, 128, 256], help="IVF lists probed")
    parser.add_argument("--large-hnsw", action="store_true", help="also build HNSW on the large catalog (slow)")
    parser.add_argument("--ef-search", type=int, nargs="+", default=[128, 256, 512], help="HNSW search depths")
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    rng = np.random.default_rng(0)
    if args.model and not args.skip_small:
        from recgpt.retrieval.tar import TARRecommender

        model = TARRecommender.load(args.model)
        items = model.item_vectors()
        users = list(model.history.users[: args.queries])
        queries = model.user_vectors(users)
        name = f"Amazon Office catalog (item vectors of {args.model})"
    else:
        items, queries, name = unit(rng.normal(size=(2420, 64))), unit(rng.normal(size=(args.queries, 64))), \
            "Amazon Office-sized catalog (random unit vectors)"
    if not args.skip_small:
        specs = [("exact", {}, None), ("hnsw", {"m": 32}, [{"ef_search": e} for e in args.ef_search])]
        report(name, items, queries, specs, args.k)
    if args.skip_large:
        return
    large = clustered(args.n_large, 64, 2000, 0.1, rng)
    large_q = clustered(args.queries, 64, 2000, 0.1, np.random.default_rng(1))
    specs = [("exact", {}, None), ("ivf", {"nlist": 4096}, [{"nprobe": n} for n in args.nprobe])]
    if args.large_hnsw:
        specs.append(("hnsw", {"m": 32, "ef_construction": 80}, [{"ef_search": e} for e in args.ef_search]))
    report("generated catalog", large, large_q, specs, args.k)


if __name__ == "__main__":
    main()
