"""The report's "Serendipity (SERAL)" section, from ``RUN/seral/offline.json`` (Hit@1 / NDCG@3 of each scorer
on the candidate sets) and ``RUN/seral/channel.json`` (the final lists with and without the serendipity
channel); no section when neither exists (`recgpt seral evaluate`, `recgpt seral channel` write them)."""

from __future__ import annotations

from recgpt.pipeline.document import Heading, Paragraph, TableBlock


def _pm(value: float, interval: float | None) -> str:
    return f"{value:.3f}" if interval is None else f"{value:.3f} ± {interval:.3f}"


def seral_blocks(offline: dict | None, channel: dict | None) -> list:
    if not offline and not channel:
        return []
    blocks: list = [Heading("Serendipity (SERAL)")]
    if offline:
        sets = offline["candidates"]
        blocks.append(Paragraph(
            f"Each of {sets['sets']:,} users whose {sets['fold']} next item is serendipitous (its "
            f"{sets['granularity']} never appears in the user's history) gets {sets['size']} candidates: that item "
            "and items of categories the user never touched. Hit@1 and NDCG@3 of the real item, ties counted as "
            "a random order would place them (95% intervals)."))
        rows = [[name, f"{m['users']:,}", _pm(m["hit@1"], m.get("hit@1_ci95")), _pm(m["ndcg@3"], m.get("ndcg@3_ci95")),
                 f"{m['yes_share']:.2f}"] for name, m in offline["scorers"].items()]
        blocks.append(TableBlock(["scorer", "sets", "Hit@1", "NDCG@3", "share judged yes"], rows))
    if channel:
        k = channel["list_size"]
        names = [("exposure_ratio", "exposure ratio (new-category slots)"),
                 (f"serendipity_hit@{k}", f"serendipity hit rate @{k}"), (f"recall@{k}", f"Recall@{k}")]
        rows = [[label, f"{channel['without'][key]:.4f}", f"{channel['with'][key]:.4f}"] for key, label in names]
        blocks.append(Paragraph(
            f"The nearline channel reserves {channel['quota']} of {k} slots of the {channel['base']} lists for the "
            f"candidates {channel['scorer']} judged best ({channel['refresh']['judgments']:,} judgments made in the "
            f"last refresh, {channel['refresh']['kept']:,} users served from the cache), "
            f"{channel['with']['users']:,} users."))
        blocks.append(TableBlock(["", "without the channel", "with the channel"], rows))
    return blocks
