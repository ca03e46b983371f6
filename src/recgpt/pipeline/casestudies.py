"""Case studies like the report's Figure 8: one user's chain from compressed history to explained items.

Users are picked deterministically among the sampled users that have interests, tags and explained
recommendations: first those whose fused list finds their held-out item, then the ones with most tags.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow.parquet as pq

from recgpt.pipeline.artifacts import read_rows
from recgpt.pipeline.document import Heading, Paragraph, Pre, TableBlock
from recgpt.runfolder import RunFolder

MAX_HISTORY_LINES = 14


def _by_user(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[str(r["user_id"])].append(r)
    return out


def _titles(run: RunFolder) -> dict[str, str]:
    path = run.table("items")
    if not path.exists():
        return {}
    t = pq.read_table(path, columns=["item_id", "title"])
    return dict(zip(t.column("item_id").to_pylist(), t.column("title").to_pylist()))


def _targets(run: RunFolder) -> dict[str, str]:
    path = run.table("holdout")
    if not path.exists():
        return {}
    rows = pq.read_table(path).to_pylist()
    return {r["user_id"]: r["item_id"] for r in rows if r["fold"] == "test"}


def pick_users(explained: dict, interests: dict, tags: dict, targets: dict, n: int) -> list[str]:
    """Users with a full chain first (interests and tags), then hits of the held-out item, then most tags."""
    def key(u: str):
        hit = any(r["item_id"] == targets.get(u) for r in explained[u])
        return (u not in interests or u not in tags, not hit, -len(tags.get(u, [])), u)
    return sorted(explained, key=key)[:n]


def case_study_blocks(run: RunFolder, k_show: int = 5, n_users: int = 3) -> list:
    explained = _by_user(read_rows(run.explained))
    interests = _by_user(read_rows(run.interests))
    tags = _by_user(read_rows(run.tags))
    compressed = {str(r["user_id"]): r for r in read_rows(run.compressed)}
    targets = _targets(run)
    titles = _titles(run)
    users = pick_users(explained, interests, tags, targets, n_users)
    if not users:
        return [Heading("Case studies"), Paragraph("No sampled user has explained recommendations.")]
    blocks: list = [Heading("Case studies"),
                    Paragraph("Like the report's Figure 8: for one user, the compressed reliable behavior the LLM "
                              "read, the interests it mined, the tags it predicted (mapped to categories by phi), "
                              "and the fused recommendations with the explanation looked up for each.")]
    for i, user in enumerate(users, 1):
        target = targets.get(user)
        blocks.append(Heading(f"Case {i}: user {user}", level=3))
        if target:
            blocks.append(Paragraph(f"Held-out next item (test): **{titles.get(target, target)}**."))
        c = compressed.get(user)
        if c:
            lines = str(c.get("text", "")).splitlines()
            more = f"\n... {len(lines) - MAX_HISTORY_LINES} more lines" if len(lines) > MAX_HISTORY_LINES else ""
            blocks.append(Paragraph(f"Compressed history ({c.get('n_events', '?')} events in {len(lines)} lines, "
                                    f"{c.get('n_tokens', '?')} tokens):"))
            blocks.append(Pre("\n".join(lines[-MAX_HISTORY_LINES:]) + more))
        if interests.get(user):
            blocks.append(TableBlock(["interest", "stage", "reason"],
                                     [[r["interest"], r.get("stage", ""), r.get("reason", "")] for r in interests[user]],
                                     caption="Mined interests."))
        else:
            blocks.append(Paragraph("No interest passed the post-checks for this user (or the LLM answer failed; "
                                    "see the LLM stages section), so no tags were asked for."))
        if tags.get(user):
            shown = sorted(tags[user], key=lambda r: not r.get("passed_checks", True))[:10]
            blocks.append(TableBlock(["tag", "interest", "category (phi)", "passed checks"],
                                     [[r["tag"], r.get("interest", ""), r.get("category", ""),
                                       "yes" if r.get("passed_checks") else "no"] for r in shown],
                                     caption=f"Predicted tags ({len(tags[user])} in all, first 10 shown)."))
        elif interests.get(user):
            blocks.append(Paragraph("No tag was predicted for this user."))
        recs = sorted(explained[user], key=lambda r: r["rank"])[:k_show]
        rows = [[str(r["rank"] + 1), (("HIT " if r["item_id"] == target else "") + str(r.get("title", ""))),
                 str(r.get("category", "")), str(r.get("explanation") or "-"),
                 str(r.get("interest") or ("(item only)" if r.get("explanation") else "-"))]
                for r in recs]
        blocks.append(TableBlock(["rank", "recommended item", "category", "explanation", "matched interest"], rows,
                                 caption="Fused recommendations with their explanations (HIT = the held-out item; "
                                 "users without LLM tags get item-title tags in fusion).",
                                 highlight_rows={j for j, r in enumerate(recs) if r["item_id"] == target}))
    return blocks
