"""Agreement of the LLM judge with human labels (report 4.3, Table 9) and the milestone check (report 3.2).

The positive class is "pass". Per criterion, a human verdict and a judge verdict on the same
(task, item_key, criterion) form a pair. Per task (criterion "all"), an output passes for the human when
every rubric criterion the human labelled passes (all must be labelled), and passes for the judge when
every LLM criterion passes and its rule checks (if any) pass: that is the judge system's verdict. Then

    accuracy  = (TP + TN) / n
    precision = TP / (TP + FP)     (0 when the judge passes nothing)
    recall    = TP / (TP + FN)     (0 when the human passes nothing)
    F1        = 2 P R / (P + R)    (0 when P + R = 0)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from recgpt.judge.buffer import JudgeBuffer, Verdict
from recgpt.judge.rubric import RULE_CRITERION, TASKS, load_rubric

ALL = "all"


@dataclass(frozen=True)
class Metrics:
    n: int
    accuracy: float
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class AgreementRow:
    task: str
    criterion: str  # a rubric criterion, or "all" for the whole output
    judge: str
    round: int
    metrics: Metrics

    def as_dict(self) -> dict:
        return {"task": self.task, "criterion": self.criterion, "judge": self.judge, "round": self.round,
                **asdict(self.metrics)}


def binary_metrics(human: list[bool], judge: list[bool]) -> Metrics:
    """Accuracy, precision, recall and F1 of ``judge`` against ``human`` with "pass" as the positive class."""
    if len(human) != len(judge):
        raise ValueError(f"need as many human as judge verdicts, got {len(human)} and {len(judge)}")
    tp = sum(h and j for h, j in zip(human, judge))
    tn = sum((not h) and (not j) for h, j in zip(human, judge))
    fp = sum((not h) and j for h, j in zip(human, judge))
    fn = sum(h and (not j) for h, j in zip(human, judge))
    n = len(human)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Metrics(n, (tp + tn) / n if n else 0.0, precision, recall, f1)


def _latest(verdicts: list[Verdict]) -> dict[tuple[str, str], Verdict]:
    """(item_key, criterion) -> the most recent verdict (verdicts arrive oldest first)."""
    return {(v.item_key, v.criterion): v for v in verdicts}


def agreement(buffer: JudgeBuffer, judge: str, round: int | None = None, rubric_version: str = "v1",
              tasks: tuple[str, ...] = TASKS) -> list[AgreementRow]:
    """Table 9 rows for ``judge`` against the human labels of ``round`` (default: the latest human round).

    Rows with no pair are left out. The LLM verdicts used are ``judge``'s of any round (the judge grades
    outputs, the round belongs to the human labels). With several annotators on one output, the most
    recent human label counts.
    """
    rounds = buffer.rounds("human")
    if not rounds:
        return []
    round = rounds[-1] if round is None else round
    rows: list[AgreementRow] = []
    for task in tasks:
        criteria = load_rubric(task, rubric_version).criterion_names
        human = _latest(buffer.verdicts(task=task, source="human", round=round))
        llm = _latest(buffer.verdicts(task=task, source="llm", judge=judge))
        rules = _latest(buffer.verdicts(task=task, source="rule"))
        for criterion in criteria:
            pairs = [(h.passed, llm[(item, criterion)].passed) for (item, c), h in human.items()
                     if c == criterion and (item, criterion) in llm]
            if pairs:
                hs, js = zip(*pairs)
                rows.append(AgreementRow(task, criterion, judge, round, binary_metrics(list(hs), list(js))))
        items = {item for item, _ in human}
        h_all, j_all = [], []
        for item in sorted(items):
            if not all((item, c) in human for c in criteria):
                continue
            rule = rules.get((item, RULE_CRITERION))
            llm_verdicts = [llm.get((item, c)) for c in criteria]
            if rule is not None and not rule.passed:
                judged = False  # the rule checks fail the output whatever the LLM says (or did not say)
            elif any(v is None for v in llm_verdicts):
                continue
            else:
                judged = all(v.passed for v in llm_verdicts)
            h_all.append(all(human[(item, c)].passed for c in criteria))
            j_all.append(judged)
        if h_all:
            rows.append(AgreementRow(task, ALL, judge, round, binary_metrics(h_all, j_all)))
    return rows


@dataclass(frozen=True)
class Flag:
    task: str
    criterion: str
    metric: str
    previous: float | None
    latest: float
    reason: str


def milestone_check(buffer: JudgeBuffer, judge: str, threshold: float, metric: str = "accuracy",
                    min_value: float | None = None, rubric_version: str = "v1",
                    min_pairs: int = 1) -> tuple[list[AgreementRow], list[Flag]]:
    """Compare ``judge`` with the latest human round against the round before it (report 3.2).

    A (task, criterion) is flagged when its ``metric`` dropped by more than ``threshold`` from the previous
    human round, or fell below ``min_value``. Returns the latest round's rows and the flags.
    """
    if metric not in ("accuracy", "precision", "recall", "f1"):
        raise ValueError(f"unknown agreement metric {metric!r}")
    rounds = buffer.rounds("human")
    if not rounds:
        return [], []
    latest = agreement(buffer, judge, rounds[-1], rubric_version)
    previous = {(r.task, r.criterion): r for r in agreement(buffer, judge, rounds[-2], rubric_version)} \
        if len(rounds) > 1 else {}
    flags = []
    for row in latest:
        if row.metrics.n < min_pairs:
            continue
        value = getattr(row.metrics, metric)
        before = previous.get((row.task, row.criterion))
        old = getattr(before.metrics, metric) if before is not None else None
        if old is not None and old - value > threshold:
            flags.append(Flag(row.task, row.criterion, metric, old, value,
                              f"{metric} fell from {old:.3f} (round {before.round}) to {value:.3f} "
                              f"(round {row.round}), more than {threshold:.3f}"))
        elif min_value is not None and value < min_value:
            flags.append(Flag(row.task, row.criterion, metric, old, value,
                              f"{metric} {value:.3f} is below the floor {min_value:.3f} (round {row.round})"))
    return latest, flags
