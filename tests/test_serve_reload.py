"""Reloading a newer run under load, on a real uvicorn server on loopback: no request fails, the answers
switch to the new run, and a run that cannot be served leaves the old one answering."""

import json
import os
import socket
import threading
import time

import httpx
import pytest
from serve_helpers import KEY, tiny_run

from recgpt.serve.app import create_app
from recgpt.serve.config import ServeConfig

H = {"X-API-Key": KEY}


def serve(app):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture()
def runs(tmp_path):
    """runs/current -> runs/a; runs/b is the same run with another tuned beta (0.25 instead of 0.5)."""
    a, b = tiny_run(tmp_path / "a"), tiny_run(tmp_path / "b")
    (b / "eval" / "tuning.json").write_text(json.dumps({"beta_tuned": 0.25}))
    current = tmp_path / "current"
    current.symlink_to(a)
    return current, a, b


def hammer(base: str, stop: threading.Event, results: list, limit_s: float = 30.0, limit_n: int = 20000):
    """GET and POST in a loop until ``stop`` (bounded in time and count); records (status, beta) or errors."""
    started = time.time()
    with httpx.Client(base_url=base, headers=H, timeout=10) as client:
        n = 0
        while not stop.is_set() and time.time() - started < limit_s and n < limit_n:
            n += 1
            try:
                if n % 3:
                    r = client.get(f"/v1/users/u{n % 4}_{n % 12}/recommendations", params={"k": 5})
                else:
                    r = client.post("/v1/recommendations", json={"events": [{"item_id": "i1_1"}], "k": 5})
                results.append((r.status_code, r.json().get("beta")))
            except Exception as exc:  # a dropped connection is a failure too
                results.append((repr(exc), None))


def test_reload_under_load_drops_no_request(runs):
    current, a, b = runs
    server, thread, base = serve(create_app(current, ServeConfig(watch_interval_s=0.2), key=KEY))
    try:
        stop, results = threading.Event(), []
        clients = [threading.Thread(target=hammer, args=(base, stop, results)) for _ in range(4)]
        for c in clients:
            c.start()
        time.sleep(0.5)
        # 1. an explicit reload of the same folder, forced: load beside, swap
        r = httpx.post(base + "/v1/admin/reload", params={"force": True}, headers=H, timeout=30)
        assert r.status_code == 200 and r.json()["reloaded"] is True
        assert httpx.post(base + "/v1/admin/reload", headers=H, timeout=30).json()["reloaded"] is False
        # 2. the symlink now points at a newer run: the watcher loads it and swaps
        tmp = current.with_name("current.tmp")
        tmp.symlink_to(b)
        os.replace(tmp, current)
        deadline = time.time() + 20
        while httpx.get(base + "/v1/run", headers=H).json()["beta"] != 0.25:
            assert time.time() < deadline, "the watcher did not load the new run"
            time.sleep(0.1)
        time.sleep(0.5)
        stop.set()
        for c in clients:
            c.join(30)
    finally:
        server.should_exit = True
        thread.join(10)
    statuses = [s for s, _ in results]
    assert len(results) > 50
    assert set(statuses) == {200}, [s for s in statuses if s != 200][:5]
    assert {beta for _, beta in results} == {0.5, 0.25}
    betas = [beta for _, beta in results]
    switch = betas.index(0.25)
    assert set(betas[:switch]) == {0.5}  # each client saw the old run, then the new one


def test_a_run_that_cannot_be_served_leaves_the_old_one(runs, tmp_path):
    current, a, b = runs
    (b / "stages" / "explanations.sqlite").unlink()
    app = create_app(current, ServeConfig(watch_interval_s=0), key=KEY)
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        tmp = current.with_name("current.tmp")
        tmp.symlink_to(b)
        os.replace(tmp, current)
        r = client.post("/v1/admin/reload", headers=H)
        assert r.status_code == 409 and "stages/explanations.sqlite" in r.json()["detail"]
        assert client.get("/v1/run", headers=H).json()["beta"] == 0.5
        assert client.get("/v1/users/u0_0/recommendations", headers=H).status_code == 200
        assert 'recgpt_serve_reloads_total{result="failed"} 1.0' in client.get("/metrics", headers=H).text


def test_two_worker_processes_answer_and_sum_their_metrics(tmp_path):
    """`recgpt serve --workers 2`: workers built by the import-string factory from the environment, metrics
    summed over processes."""
    import subprocess
    import sys

    run = tiny_run(tmp_path / "run")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RECGPT_API_KEY": KEY}
    server = subprocess.Popen([sys.executable, "-m", "recgpt.cli.main", "serve", "--run", str(run), "--port", str(port),
                               "--workers", "2", "--set", "watch_interval_s=0"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "the workers did not start"
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        with httpx.Client(base_url=base, headers=H, timeout=10) as client:
            for n in range(20):
                assert client.get(f"/v1/users/u{n % 4}_{n % 12}/recommendations").status_code == 200
            assert client.get("/v1/users/ghost/recommendations").status_code == 404
            text = client.get("/metrics").text
        assert 'recgpt_serve_requests_total{method="GET",route="/v1/users/{user_id}/recommendations",status="200"} 20.0' in text
        assert 'status="404"} 1.0' in text
    finally:
        server.terminate()
        server.wait(30)
