"""The labelling page in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright)."""

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from judge_helpers import make_run

from recgpt.judge.buffer import JudgeBuffer
from recgpt.judge.items import load_items
from recgpt.judge.web.app import LabelSession, create_app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "t0ken-for-tests"
HOSTILE = '<script>window.__pwned = 1</script><b id="injected">bold</b> A sturdy stapler.'


@pytest.fixture()
def server(tmp_path):
    import uvicorn

    run = make_run(tmp_path / "run", explanation_text=HOSTILE)
    buffer = JudgeBuffer(run.judge / "buffer.sqlite")
    session = LabelSession(buffer, load_items(run), TOKEN, round=1, annotator="tester")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(session), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", buffer
    server.should_exit = True
    thread.join(10)


def test_requests_without_the_token_are_refused(server):
    base, buffer = server
    assert httpx.get(base + "/").status_code == 401
    assert httpx.get(base + "/?token=wrong").status_code == 401
    assert httpx.get(base + "/api/progress").status_code == 401
    key = next(i.item_key for i in load_items(make_run(Path(buffer.path).parents[2] / "again")) if i.task == "interests")
    assert key.startswith("user 7 interest 0 #")
    body = {"task": "interests", "item_key": key, "labels": {"willingness": "yes", "reasonableness": "strong"}}
    assert httpx.post(base + "/api/label", json=body).status_code == 401
    # the cookie alone does not let a cross-site form post: the header is required
    assert httpx.post(base + "/api/label", json=body, cookies={"judge_token": TOKEN}).status_code == 403
    assert buffer.count("human") == 0
    ok = httpx.post(base + "/api/label", json=body, headers={"X-Judge-Token": TOKEN})
    assert ok.status_code == 200 and ok.json()["stored"] == 2
    bad = dict(body, labels={"willingness": "perhaps", "reasonableness": "strong"})
    assert httpx.post(base + "/api/label", json=bad, headers={"X-Judge-Token": TOKEN}).status_code == 422


@pytest.mark.browser
# Skipped only outside CI: CI (CI=true) installs Chromium and must run this test, never skip it.
@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="Debian's chromium is not installed"
)
def test_label_three_items_with_the_keyboard_and_markup_stays_text(server, tmp_path):
    from playwright.sync_api import sync_playwright

    base, buffer = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{base}/?token={TOKEN}")
        assert "token" not in page.url  # redirected, the cookie carries the token now
        keys = {"user 7 interest 0": ["1", "1"], "user 8 interest 0": ["1", "3"],
                "user 7 tag 0": ["y", "y", "n", "y"]}
        for n, (key, presses) in enumerate(keys.items()):
            assert page.locator("#item").get_attribute("data-key").startswith(key + " #")
            for press in presses:
                page.keyboard.press(press)
            if n == 0:
                page.screenshot(path=str(tmp_path / "label.png"), full_page=True)
            with page.expect_navigation():
                page.keyboard.press("Enter")
        assert "3 / 6" in page.locator("#progress").inner_text()
        # the explanation whose text is markup: shown as text, nothing injected, nothing run
        page.goto(f"{base}/?skip=2")
        assert page.locator("#item").get_attribute("data-task") == "explanations"
        shown = page.locator('dd[data-field="explanation"]')
        assert shown.inner_text() == HOSTILE
        assert page.locator("#injected").count() == 0
        assert page.evaluate("window.__pwned") is None
        browser.close()
    if os.environ.get("JUDGE_SCREENSHOT"):
        shutil.copy(tmp_path / "label.png", os.environ["JUDGE_SCREENSHOT"])
    human = buffer.verdicts(source="human")
    got = {(v.item_key.split(" #")[0], v.criterion): v.label for v in human}
    assert got == {("user 7 interest 0", "willingness"): "yes", ("user 7 interest 0", "reasonableness"): "strong",
                   ("user 8 interest 0", "willingness"): "yes", ("user 8 interest 0", "reasonableness"): "none",
                   ("user 7 tag 0", "relevance"): "yes", ("user 7 tag 0", "consistency"): "yes",
                   ("user 7 tag 0", "specificity"): "no", ("user 7 tag 0", "validity"): "yes"}
    assert all(v.judge == "tester" and v.round == 1 for v in human)
