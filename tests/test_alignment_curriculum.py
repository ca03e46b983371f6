"""Curriculum multi-task fine-tuning (report Appendix C): the declared order, its errors, and the subtask sets
built from a tiny catalog and log with known labels."""

from __future__ import annotations

import json

import pytest
from stages_fixtures import tiny_dataset

from recgpt.alignment.config import CurriculumConfig
from recgpt.alignment.curriculum import CurriculumError, build_subtask, load_curriculum, training_plan
from recgpt.alignment.subtasks import SubtaskInputs, SubtaskSpec


def _write(tmp_path, text: str):
    path = tmp_path / "curriculum.yaml"
    path.write_text(text)
    return path


def test_the_packaged_curriculum_orders_dependencies_first_and_levels_low_to_high():
    curriculum = load_curriculum()
    order = [s.name for s in curriculum.order()]
    assert order == ["title-category", "title-keyinfo", "query-category", "query-item-relevance", "what-to-buy",
                     "explanations", "interests", "tags"]
    position = {name: i for i, name in enumerate(order)}
    for spec in curriculum.subtasks:
        assert all(position[d] < position[spec.name] for d in spec.depends_on)


def test_a_user_subtask_joins_the_order_after_its_dependencies(tmp_path):
    path = _write(tmp_path, """
subtasks:
  - {name: c, level: advanced, builder: title-category.v1, depends_on: [b]}
  - {name: b, level: intermediate, builder: title-category.v1, depends_on: [a]}
  - {name: a, level: foundation, builder: title-keyinfo.v1}
  - {name: z, level: foundation, builder: title-keyinfo.v1}
""")
    assert [s.name for s in load_curriculum(path).order()] == ["a", "z", "b", "c"]
    mixed = training_plan(load_curriculum(path), CurriculumConfig(order="mixed"))
    assert len(mixed) == 1 and {s.name for s in mixed[0]} == {"a", "b", "c", "z"}
    shuffled = [g[0].name for g in training_plan(load_curriculum(path), CurriculumConfig(order="shuffled", seed=3))]
    assert sorted(shuffled) == ["a", "b", "c", "z"]


def test_a_cycle_is_a_clear_error(tmp_path):
    path = _write(tmp_path, """
subtasks:
  - {name: a, level: foundation, builder: title-keyinfo.v1, depends_on: [b]}
  - {name: b, level: foundation, builder: title-keyinfo.v1, depends_on: [a]}
""")
    with pytest.raises(CurriculumError, match="cycle: (a -> b -> a|b -> a -> b)"):
        load_curriculum(path)


@pytest.mark.parametrize("entry, message", [
    ("{name: a, level: expert, builder: title-keyinfo.v1}", "level 'expert'"),
    ("{name: a, level: foundation, builder: nope.v1}", "unknown builder"),
    ("{name: a, level: foundation, builder: title-keyinfo.v1, depends_on: [x]}", "not declared"),
    ("{name: a, level: foundation, builder: title-keyinfo.v1, colour: red}", "unknown keys"),
])
def test_a_bad_declaration_names_what_is_wrong(tmp_path, entry, message):
    with pytest.raises(CurriculumError, match=message):
        load_curriculum(_write(tmp_path, f"subtasks:\n  - {entry}\n"))


def test_a_lower_level_cannot_depend_on_a_higher_one(tmp_path):
    path = _write(tmp_path, """
subtasks:
  - {name: a, level: foundation, builder: title-keyinfo.v1, depends_on: [b]}
  - {name: b, level: advanced, builder: title-keyinfo.v1}
""")
    with pytest.raises(CurriculumError, match="higher level"):
        load_curriculum(path)


@pytest.fixture(scope="module")
def inputs():
    return SubtaskInputs(tiny_dataset(), holdout_share=0.0)


def _answers(training_set):
    return [(s.messages[-1]["content"], json.loads(s.completion)) for s in training_set.samples]


def test_key_information_and_category_labels_come_from_catalog_fields(inputs):
    keyinfo = build_subtask(SubtaskSpec("k", "foundation", "title-keyinfo.v1"), inputs)
    by_title = {p.split("Title: ")[1].split("\n")[0]: a for p, a in _answers(keyinfo)}
    assert by_title["Pilot G2 Retractable Gel Ink Pens Blue 12 Pack"] == {
        "brand": "Pilot", "category": "Pens", "core": "retractable gel ink pens"}
    assert len(by_title) == 7 and keyinfo.template_version == "v1"
    category = build_subtask(SubtaskSpec("c", "foundation", "title-category.v1"), inputs)
    assert {a["category"] for p, a in _answers(category) if "Casio" in p} == {"Calculators"}


def test_relevance_pairs_are_same_category_yes_and_other_category_no(inputs):
    pairs = build_subtask(SubtaskSpec("r", "intermediate", "query-item-relevance.v1", options={"synthetic": True}),
                          inputs)
    category = {r["title"]: r["category"] for r in inputs.dataset.items.to_pylist()}
    assert pairs.counts["positive"] > 0 and pairs.counts["negative"] > 0
    for sample in pairs.samples:
        title = sample.messages[-1]["content"].split("Product: ")[1].split("\n")[0]
        same = category[title] == sample.provenance["query_category"]
        assert json.loads(sample.completion)["relevant"] == ("yes" if same else "no")


def test_logged_queries_take_the_category_of_the_next_behavior_else_synthetic_ones(inputs):
    logged = build_subtask(SubtaskSpec("q", "intermediate", "query-category.v1", options={"window_days": 30}),
                           inputs)
    # u1 searched "fountain pen ink" on day 55 and bought nothing in the training fold after it: no logged pair,
    # so the queries are synthesised from titles and marked so
    assert logged.counts["synthetic_queries"] == len(logged.samples) > 0


def test_what_to_buy_predicts_the_next_category_from_the_training_fold_only(inputs):
    nxt = build_subtask(SubtaskSpec("w", "intermediate", "what-to-buy.v1", options={"history": 2}), inputs)
    got = {(s.user_id, json.loads(s.completion)["category"]) for s in nxt.samples}
    # u1: p1, p2, n1 -> (Pens) then (Notebooks); u2: c1, c2; u3: n1, n2, p1
    assert got == {("u1", "Pens"), ("u1", "Notebooks"), ("u2", "Calculators"), ("u3", "Notebooks"), ("u3", "Pens")}
    assert all("Uni-ball" not in s.messages[-1]["content"] for s in nxt.samples)  # p3 is u1's dev target


def test_a_missing_optional_stage_set_leaves_the_subtask_empty(inputs, tmp_path):
    from recgpt.runfolder import RunFolder

    spec = SubtaskSpec("interests", "advanced", "stage-set.v1", options={"set": "interests-teacher"})
    run_inputs = SubtaskInputs(inputs.dataset, run=RunFolder(tmp_path))
    assert build_subtask(spec, run_inputs).counts["missing_set"] == 1


@pytest.mark.llm
def test_the_curriculum_trains_the_embedded_model_step_by_step_continuing_the_adapter(tmp_path):
    from recgpt.alignment.config import TrainerConfig
    from recgpt.alignment.curriculum import run_curriculum
    from recgpt.llm.config import LLMConfig
    from recgpt.runfolder import RunFolder

    path = _write(tmp_path, """
subtasks:
  - {name: next, level: intermediate, builder: what-to-buy.v1, depends_on: [category], samples: 3}
  - {name: category, level: foundation, builder: title-category.v1, samples: 3}
""")
    run = RunFolder(tmp_path / "run")
    trainer = TrainerConfig(method="lora", lora_r=4, lora_alpha=8, epochs=1, batch_size=3, max_length=256, threads=1)
    steps = run_curriculum(run, tiny_dataset(), CurriculumConfig(file=str(path), holdout_share=0.0), trainer,
                           LLMConfig(progress=False))
    assert [s.subtasks for s in steps] == [["category"], ["next"]]
    first, second = (json.loads((run.curriculum_model(s.name) / "manifest.json").read_text()) for s in steps)
    assert first["key"]["from_adapter"] is None and second["key"]["from_adapter"] is not None
    assert first["metrics"]["steps"] == second["metrics"]["steps"] == 1
    assert first["metrics"]["last_loss"] > 0 and second["metrics"]["first_loss"] > 0  # logged even for one step
    assert json.loads(run.curriculum_report("curriculum").read_text())["steps"][1]["adapter"] == steps[1].adapter


def test_the_curriculum_command_builds_and_writes_the_sets(tmp_path):
    from typer.testing import CliRunner

    from recgpt.alignment.records import TrainingSet
    from recgpt.cli.main import app
    from recgpt.data.store import save_dataset
    from recgpt.runfolder import RunFolder

    run = RunFolder(tmp_path / "run")
    save_dataset(tiny_dataset(), run.data)
    result = CliRunner().invoke(app, ["align", "curriculum", "--run", str(run.root), "--no-train"])
    assert result.exit_code == 0, result.output
    assert "title-category (foundation)" in result.output and '"missing_set": 1' in result.output
    assert len(TrainingSet.read(run.curriculum_set("title-keyinfo")).samples) == 7
    assert not run.alignment.joinpath("models").exists()  # --no-train trains nothing
