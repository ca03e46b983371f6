"""Latency and throughput of `recgpt serve` on loopback: the server in one process, the load generator in another.

For each worker count, the server is started as ``recgpt serve --run RUN --workers W`` (a subprocess); a load
generator process (asyncio, raw HTTP/1.1 keep-alive connections, uvloop when installed) then runs, for each
concurrency C and each path:

* closed loop: C connections, each sending its next request when the previous answer arrived, until
  ``--requests`` requests or ``--seconds`` seconds (whichever first): requests/s, p50/p99 latency. By Little's
  law the latency at C connections is C / throughput once the server is saturated.
* open loop (``--rate R``): R requests/s offered over C connections, latency counted from the time each request
  was due (queueing included, no coordinated omission): p50/p99 and the rate achieved.

Paths: ``GET /v1/users/{id}/recommendations?k=20`` over a seeded sample of the run's users, and
``POST /v1/recommendations`` with the last 10 events of a sampled user posted as a new user (the user tower runs
per request). Every answer is checked for status 200. Both processes share the machine's cores.

    .venv/bin/python benchmarks/bench_serve.py --run runs/amazon-office --workers 1 2 --concurrency 1 16 64 \
        --requests 3000 --seconds 20 --rate 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: Path, workers: int, port: int, threads: int, settings: list[str]) -> subprocess.Popen:
    env = {**os.environ, "RECGPT_API_KEY": KEY}
    cmd = [sys.executable, "-m", "recgpt.cli.main", "serve", "--run", str(run), "--port", str(port),
           "--workers", str(workers), "--set", "watch_interval_s=0", "--set", f"torch_threads={threads}"]
    cmd += [arg for setting in settings for arg in ("--set", setting)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    import httpx

    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                time.sleep(1.0 if workers > 1 else 0.2)  # let every worker finish starting
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("server did not start in 300 s")


def requests_for(run: Path, path: str, n: int, k: int, seed: int = 0) -> list[bytes]:
    """Raw HTTP/1.1 requests: GETs for sampled run users, or POSTs of sampled users' last 10 events."""
    import pyarrow.parquet as pq

    events = pq.read_table(run / "data" / "events.parquet", columns=["user_id", "item_id", "behavior", "timestamp"])
    users = sorted(set(events.column("user_id").to_pylist()))
    rng = random.Random(seed)
    chosen = [rng.choice(users) for _ in range(n)]
    head = f"Host: 127.0.0.1\r\nX-API-Key: {KEY}\r\nConnection: keep-alive\r\n"
    if path == "get":
        return [f"GET /v1/users/{u}/recommendations?k={k} HTTP/1.1\r\n{head}\r\n".encode() for u in chosen]
    by_user: dict[str, list[dict]] = {}
    for row in events.to_pylist():
        by_user.setdefault(row["user_id"], []).append(
            {"item_id": row["item_id"], "behavior": row["behavior"], "timestamp": row["timestamp"]})
    out = []
    for u in chosen:
        body = json.dumps({"events": by_user[u][-10:], "k": k}).encode()
        out.append(f"POST /v1/recommendations HTTP/1.1\r\n{head}Content-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return out


async def roundtrip(reader, writer, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def load(port: int, requests: list[bytes], concurrency: int, max_requests: int, seconds: float,
               rate: float | None) -> dict:
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]
    latencies: list[float] = []
    failures = 0
    started = time.perf_counter()
    counter = iter(range(max_requests))

    async def worker(w: int):
        nonlocal failures
        reader, writer = conns[w]
        for n in counter:
            due = started + n / rate if rate else time.perf_counter()
            if rate:
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            if time.perf_counter() - started > seconds:
                return
            try:
                status = await roundtrip(reader, writer, requests[n % len(requests)])
            except (OSError, asyncio.IncompleteReadError):
                failures += 1
                return
            latencies.append(time.perf_counter() - due)
            failures += status != 200

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    wall = time.perf_counter() - started
    for _, writer in conns:
        writer.close()
    lat = np.asarray(latencies) * 1000
    return {"requests": len(latencies), "failures": failures, "seconds": round(wall, 2),
            "rps": round(len(latencies) / wall, 1), "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2), "mean_ms": round(float(lat.mean()), 2)}


def client(port, requests, concurrency, max_requests, seconds, rate, queue):
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    queue.put(asyncio.run(load(port, requests, concurrency, max_requests, seconds, rate)))


def run_client(*args) -> dict:
    queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=client, args=(*args, queue))
    proc.start()
    result = queue.get(timeout=args[4] + 120)
    proc.join(30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("runs/amazon-office"))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--paths", nargs="+", default=["get", "post"], choices=["get", "post"])
    parser.add_argument("--requests", type=int, default=3000, help="most requests per measurement")
    parser.add_argument("--seconds", type=float, default=20.0, help="most seconds per measurement")
    parser.add_argument("--rate", type=float, default=None, help="also an open-loop run at this rate (req/s)")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--serve-set", action="append", default=[], help="KEY=VALUE passed to recgpt serve --set")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    bodies = {p: requests_for(args.run, p, 2000, args.k) for p in args.paths}
    rows = []
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print("| workers | path | connections | mode | requests | failed | req/s | p50 ms | p99 ms |")
    print("|---:|---|---:|---|---:|---:|---:|---:|---:|")
    for workers in args.workers:
        port = free_port()
        server = start_server(args.run, workers, port, args.torch_threads, args.serve_set)
        try:
            for path in args.paths:
                run_client(port, bodies[path], 4, 200, 30.0, None)  # warm-up: every worker, caches
                modes = [("closed", None)] + ([("open", args.rate)] if args.rate else [])
                for concurrency in args.concurrency:
                    for mode, rate in modes:
                        if mode == "open" and concurrency != max(args.concurrency):
                            continue
                        r = run_client(port, bodies[path], concurrency, args.requests, args.seconds, rate)
                        row = {"workers": workers, "path": path, "connections": concurrency,
                               "mode": mode if rate is None else f"open {rate:g}/s", **r}
                        rows.append(row)
                        print(f"| {workers} | {'GET' if path == 'get' else 'POST'} | {concurrency} | {row['mode']} | "
                              f"{r['requests']} | {r['failures']} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} |",
                              flush=True)
        finally:
            server.terminate()
            server.wait(30)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
