"""The resumable stage runner with fake stages: skip, rerun on change, propagate downstream, resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from recgpt.pipeline.engine import Stage, StageError, StageRunner, StageState
from recgpt.pipeline.fingerprint import changed_keys, fingerprint


def make_stages(calls: list[str], fail_at: str | None = None) -> list[Stage]:
    """a: writes a.txt from config.a; b: reads a.txt + config.b, writes b.txt; c: reads b.txt only."""

    def run_a(ctx):
        calls.append("a")
        (ctx.root / "a.txt").write_text(f"a={ctx.config['a']}")
        return {"value": ctx.config["a"]}

    def run_b(ctx):
        calls.append("b")
        if fail_at == "b":
            raise KeyboardInterrupt
        text = (ctx.root / "a.txt").read_text()
        (ctx.root / "b.txt").write_text(f"{text};b={ctx.config['b']['x']}")

    def run_c(ctx):
        calls.append("c")
        (ctx.root / "c.txt").write_text((ctx.root / "b.txt").read_text().upper())

    return [
        Stage("a", "first", run_a, sections=("a",), outputs=("a.txt",)),
        Stage("b", "second", run_b, sections=("b.x",), inputs=("a.txt",), outputs=("b.txt",)),
        Stage("c", "third", run_c, inputs=("b.txt",), outputs=("c.txt",)),
    ]


def run(root: Path, config: dict, calls: list[str], **kw) -> list[str]:
    fail_at = kw.pop("fail_at", None)
    outcomes = StageRunner(make_stages(calls, fail_at), root, config).run(**kw)
    return [o.status for o in outcomes]


def test_first_run_runs_all_and_second_skips_all(tmp_path):
    calls: list[str] = []
    config = {"a": 1, "b": {"x": 2, "unused": 0}}
    assert run(tmp_path, config, calls) == ["ran", "ran", "ran"]
    assert (tmp_path / "c.txt").read_text() == "A=1;B=2"
    assert run(tmp_path, config, calls) == ["skipped", "skipped", "skipped"]
    assert calls == ["a", "b", "c"]
    state = StageState(tmp_path / "stages.json")
    assert state.get("a")["summary"] == {"value": 1}
    assert state.get("b")["wall_s"] >= 0 and state.get("b")["peak_rss_mb"] > 0


def test_config_change_reruns_that_stage_and_downstream_only(tmp_path):
    calls: list[str] = []
    run(tmp_path, {"a": 1, "b": {"x": 2, "unused": 0}}, calls)
    calls.clear()
    # a key no stage declares: nothing reruns
    assert run(tmp_path, {"a": 1, "b": {"x": 2, "unused": 9}}, calls) == ["skipped"] * 3
    # b's section changes: b and c rerun, a does not
    assert run(tmp_path, {"a": 1, "b": {"x": 3, "unused": 9}}, calls) == ["skipped", "ran", "ran"]
    assert calls == ["b", "c"]
    assert (tmp_path / "c.txt").read_text() == "A=1;B=3"


def test_upstream_rerun_with_identical_output_does_not_ripple(tmp_path):
    calls: list[str] = []
    config = {"a": 1, "b": {"x": 2}}
    run(tmp_path, config, calls)
    calls.clear()
    assert run(tmp_path, config, calls, force=("a",)) == ["ran", "skipped", "skipped"]
    assert calls == ["a"]


def test_deleted_output_reruns_its_stage(tmp_path):
    calls: list[str] = []
    config = {"a": 1, "b": {"x": 2}}
    run(tmp_path, config, calls)
    (tmp_path / "b.txt").unlink()
    calls.clear()
    assert run(tmp_path, config, calls) == ["skipped", "ran", "skipped"]
    assert calls == ["b"]


def test_until_then_resume_after_a_kill(tmp_path):
    calls: list[str] = []
    config = {"a": 1, "b": {"x": 2}}
    assert run(tmp_path, config, calls, until="a") == ["ran"]
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, config, calls, fail_at="b")
    assert StageState(tmp_path / "stages.json").get("b") is None
    calls.clear()
    assert run(tmp_path, config, calls) == ["skipped", "ran", "ran"]
    assert calls == ["b", "c"]


def test_unknown_until_is_an_error(tmp_path):
    with pytest.raises(StageError, match="unknown stage"):
        run(tmp_path, {"a": 1, "b": {"x": 1}}, [], until="nope")


def test_fingerprint_covers_folders_and_reports_changed_keys(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"\x00" * 10)
    fp1, doc1 = fingerprint("1", {"s": {"k": 1}}, {"model": folder})
    (folder / "w.bin").write_bytes(b"\x01" * 10)
    fp2, doc2 = fingerprint("1", {"s": {"k": 1}}, {"model": folder})
    assert fp1 != fp2
    assert changed_keys(doc1, doc2) == ["inputs.model"]
    fp3, doc3 = fingerprint("2", {"s": {"k": 2}}, {"model": folder})
    assert changed_keys(doc2, doc3) == ["version", "config.s"]
    assert changed_keys(None, doc3) == ["never ran"]
    assert fingerprint("1", {}, {"x": tmp_path / "absent"})[1]["inputs"]["x"] == "missing"
