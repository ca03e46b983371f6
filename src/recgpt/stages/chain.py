"""One user's chain for inspection: history -> interests -> tags -> explanations, as plain text."""

from __future__ import annotations

import datetime as dt

import pyarrow.compute as pc
import pyarrow.parquet as pq

from recgpt.runfolder import RunFolder


def _rows_of(path, user_id: str) -> list[dict]:
    if not path.exists():
        return []
    table = pq.read_table(path)
    return table.filter(pc.equal(table.column("user_id"), user_id)).to_pylist()


def user_chain(run: RunFolder, dataset, user_id: str, fold: str | None = "test", max_history: int = 30) -> str:
    from recgpt.behavior.item_text import item_texts
    from recgpt.stages.explanations import ExplanationTable

    texts = item_texts(dataset.items)
    history = dataset.history(fold)
    history = history.filter(pc.equal(history.column("user_id"), user_id)).to_pylist()
    lines = [f"# user {user_id}", "", f"## history ({len(history)} events, fold {fold}; newest last)"]
    for e in history[-max_history:]:
        day = dt.datetime.fromtimestamp(e["timestamp"], tz=dt.timezone.utc).date()
        lines.append(f"  {day} {e['behavior']:<9} {texts.get(e['item_id'], e['item_id'])}")
    interests = _rows_of(run.interests_all, user_id) or _rows_of(run.interests, user_id)
    lines += ["", f"## interests ({len(interests)})"]
    for r in interests:
        verdict = "ok" if r.get("passed_checks", True) else f"REMOVED: {r.get('failed_check')}"
        lines.append(f"  [{r['stage']}] {r['interest']} -- {r['reason']} ({verdict})")
    tags = _rows_of(run.tags, user_id)
    lines += ["", f"## tags ({len(tags)}; {sum(bool(t['passed_checks']) for t in tags)} passed the checks)"]
    for t in tags:
        verdict = "ok" if t["passed_checks"] else f"REMOVED: {t['failed_check']}"
        lines.append(f"  {t['tag']} -> {t['category']} | {t['interest']} | {t['reason']} ({verdict})")
    lines += ["", "## explanations"]
    if run.explanations.exists():
        table = ExplanationTable(run.explanations)
        kept = [r["interest"] for r in interests if r.get("passed_checks", True)]
        titles = dict(zip(dataset.items.column("item_id").to_pylist(), dataset.items.column("title").to_pylist()))
        for interest, item, text, passed, failed in table.for_interests(kept):
            verdict = "ok" if passed else f"REMOVED: {failed}"
            lines.append(f"  {interest} x {titles.get(item, item)[:60]}: \"{text}\" ({verdict})")
        table.close()
    else:
        lines.append("  (no explanations table yet)")
    return "\n".join(lines)
