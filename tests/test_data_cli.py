"""The data commands end to end on the bundled example: load, validate, compress."""

from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from recgpt.cli.main import app
from recgpt.runfolder import RunFolder

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom" / "mapping.yaml"


def test_load_validate_compress(tmp_path):
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(app, ["data", "load", "--source", "custom", "--path", str(EXAMPLE), "--out", str(run)])
    assert result.exit_code == 0, result.output
    assert (RunFolder(run).data / "events.parquet").exists()
    result = runner.invoke(app, ["data", "validate", str(run)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["compress", "--run", str(run), "--tokenizer", "approx", "--budget", "40"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(RunFolder(run).compressed)
    assert table.num_rows == 3 and max(table.column("n_tokens").to_pylist()) <= 40
    assert "users truncated" in result.output


def test_errors_are_one_message_with_an_exit_code_not_a_traceback(tmp_path):
    """Bad input is reported once by the command (``error: ...``); exit 2 for what the caller must fix."""
    runner = CliRunner()
    result = runner.invoke(app, ["data", "load", "--source", "nope", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "error: unknown data loader 'nope'; registered: amazon-office.v1" in result.output
    result = runner.invoke(app, ["data", "validate", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "recgpt data load" in result.output
    bad = tmp_path / "c.yaml"
    bad.write_text("token_budgett: 5\n")
    result = runner.invoke(app, ["compress", "--run", str(tmp_path), "--config", str(bad)])
    assert result.exit_code == 2 and "token_budgett: unknown key" in result.output
    broken = tmp_path / "events.csv"
    broken.write_text("user,item\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(f"items: {{file: {broken}}}\nevents: {{file: {broken}}}\n")
    result = runner.invoke(app, ["data", "load", "--source", "custom", "--path", str(mapping), "--out", str(tmp_path)])
    assert result.exit_code == 1 and str(broken) in result.output
    for output in (result.output,):
        assert "Traceback" not in output
