"""The stage commands over a run folder with the scripted fake model: interests -> tags -> explain -> chain."""

import json

import pyarrow.parquet as pq
import yaml
from typer.testing import CliRunner

from recgpt.cli.main import app
from recgpt.data.store import save_dataset
from recgpt.runfolder import RunFolder
from recgpt.stages.explanations import ExplanationTable
from stages_fixtures import tiny_dataset

UNIVERSAL = json.dumps({  # valid for all three answer schemas (extra keys are ignored)
    "interests": [{"interest": "journaling in notebooks", "stage": "listed", "reason": "bought ruled notebooks"}],
    "tags": [{"tag": "dotted grid journal notebook", "reason": "likes journaling"},
             {"tag": "smart notebook", "reason": "vague"}],
    "explanation": "Fill winter evenings with dotted pages of ideas",
})


def test_stage_commands_end_to_end(tmp_path):
    run = RunFolder(tmp_path / "run").ensure()
    save_dataset(tiny_dataset(), run.data)
    config = tmp_path / "stages.yaml"
    config.write_text(yaml.safe_dump({
        "llm": {"backend": "fake", "options": {"fake": {"answers": [UNIVERSAL] * 40}}, "progress": False},
        "phi": {"holdout_share": 0.0},
        "explanations": {"items_per_interest": 2},
    }))
    cli = CliRunner()
    common = ["--run", str(run.root), "--config", str(config)]
    result = cli.invoke(app, ["interests", *common])
    assert result.exit_code == 0, result.output
    kept = pq.read_table(run.interests).to_pylist()
    assert {r["user_id"] for r in kept} == {"u1", "u3"}  # u2 only bought calculators: ungrounded
    assert pq.read_table(run.interests.with_name("interests_all.parquet")).num_rows == 3

    result = cli.invoke(app, ["tags", *common, "--sample-users", "2", "--seed", "0"])
    assert result.exit_code == 0, result.output
    tags = pq.read_table(run.tags).to_pylist()
    assert tags and all(t["category"] == "Notebooks" for t in tags if t["passed_checks"])
    assert {t["failed_check"] for t in tags} >= {"vague"}
    assert (run.phi / "phi.json").exists()

    result = cli.invoke(app, ["explain", *common])
    assert result.exit_code == 0, result.output
    table = ExplanationTable(run.explanations)
    found = table.lookup(["Journaling in notebooks"], "n2")
    assert found is not None and found.explanation.startswith("Fill winter")
    table.close()

    result = cli.invoke(app, ["chain", "--run", str(run.root), "--user", "u3"])
    assert result.exit_code == 0, result.output
    assert "## interests (1)" in result.output and "dotted grid journal notebook -> Notebooks" in result.output
    assert "REMOVED: vague" in result.output and "Fill winter evenings" in result.output

    result = cli.invoke(app, ["tag-eval", "--run", str(run.root), "--sample-users", "3"])
    assert result.exit_code == 0, result.output
    assert "| history |" in result.output
