"""The SERAL serendipity channel as served: the reserved slots of a run user's list, filled from the judgments
that the nearline job (``recgpt seral channel``) cached in ``RUN/seral/judgments.sqlite``.

    channel = ServedChannel.load(run, dataset, config.seral_quota, set(items))   # None: the channel is off
    channel.arrange("u1", base_ids, k, excluded)    # [(item id, Judgment or None)], the final list of k
    channel.status("u1")                            # served | stale | no_judgments

Everything is read when the run is loaded; a request only arranges lists in memory (no LLM call, no file read):
:meth:`ServedChannel.arrange` is :func:`recgpt.seral.channel.final_lists` over the request's list with the
cached judgments of the user's current profile version.

**Stale judgments are not served.** The user's current cognition profile is rebuilt from the served run's data
with the settings the job recorded (``channel.json``'s ``config``: granularity, fold, behaviors, profile,
channel; else the run's ``config.yaml`` ``seral`` block, else the defaults), exactly as the job builds it. A
user whose judgments were made for another (older) profile version gets the base list without reserved slots
(``serendipity_channel: stale``) until the nearline job, which rejudges exactly those users, runs again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from recgpt.runfolder import RunFolder
from recgpt.seral.config import ChannelConfig, SeralConfig
from recgpt.seral.records import Judgment

log = logging.getLogger("recgpt.serve")


def served_seral_config(run: RunFolder) -> SeralConfig:
    """The seral settings the run's channel was made with: ``channel.json``'s ``config`` when the job recorded
    it, else the ``seral`` block of ``RUN/config.yaml``, else the defaults."""
    from recgpt.config import read_yaml_mapping
    from recgpt.pipeline.artifacts import read_json

    if run.seral_channel_metrics.exists():
        recorded = (read_json(run.seral_channel_metrics, {}) or {}).get("config")
        if recorded:
            return SeralConfig.from_dict(recorded, source=f"{run.seral_channel_metrics} (config)")
    if run.config.exists():
        block = read_yaml_mapping(run.config).get("seral") or {}
        return SeralConfig.from_dict(block, source=f"{run.config} (seral block)")
    return SeralConfig()


def current_versions(run: RunFolder, dataset, seral: SeralConfig, users: list[str]) -> dict[str, str]:
    """User -> the version of the user's cognition profile built now from ``dataset`` (as the job builds it);
    users without a visible history at the configured fold are absent."""
    from recgpt.seral.profiles import build_profiles, interests_by_user
    from recgpt.seral.truth import item_categories

    profiles = build_profiles(dataset, seral.fold, item_categories(dataset.items, seral.granularity), seral.profile,
                              seral.behaviors, interests_by_user(run.interests), users=users)
    return {p.user_id: p.version for p in profiles}


@dataclass
class ServedChannel:
    """The channel of one loaded run. ``config``: the job's channel settings with the served ``quota``;
    ``judged``: user -> the cached judgments of the user's current profile version, best first (only catalog
    items); ``stale``: users whose cached judgments were made for another profile version (not served)."""

    config: ChannelConfig
    judged: dict[str, list[Judgment]]
    stale: set[str] = field(default_factory=set)
    category: dict[str, str] = field(default_factory=dict)  # item -> category at the job's granularity

    @classmethod
    def load(cls, run: RunFolder, dataset, quota: int | None, catalog: set[str]) -> "ServedChannel | None":
        """The channel of ``run``, or None (off) when ``quota`` is 0, when the run has no judgments file, or when
        the file holds no judgments of the configured scorer. ``quota`` None: the job's ``channel.quota``."""
        from recgpt.seral.channel import JudgmentCache

        if quota == 0 or not run.seral_judgments.exists():
            return None
        seral = served_seral_config(run)
        config = seral.channel.model_copy(update={"quota": seral.channel.quota if quota is None else quota})
        if config.quota == 0:
            return None
        cache = JudgmentCache(run.seral_judgments)
        try:
            cached = cache.versions(config.scorer)
            current = current_versions(run, dataset, seral, sorted(cached))
            fresh = [u for u, version in cached.items() if current.get(u) == version]
            judged = {u: [j for j in cache.judgments(u, config.scorer) if j.item_id in catalog] for u in fresh}
        finally:
            cache.close()
        if not any(judged.values()) and len(fresh) == len(cached):
            return None  # no judgment of this scorer at all
        from recgpt.seral.truth import item_categories

        channel = cls(config, {u: js for u, js in judged.items() if js}, set(cached) - set(fresh),
                      item_categories(dataset.items, seral.granularity))
        log.info("serendipity channel: %s, quota %d; %d users with judgments, %d stale", config.scorer,
                 config.quota, len(channel.judged), len(channel.stale))
        return channel

    def status(self, user: str) -> str:
        """served (the user's current judgments fill the reserved slots), stale (judgments of an older profile
        version, not served) or no_judgments."""
        if user in self.judged:
            return "served"
        return "stale" if user in self.stale else "no_judgments"

    def arrange(self, user: str, base: list[str], k: int, excluded: set[str] = frozenset(),
                touched: set[str] = frozenset()) -> list[tuple[str, Judgment | None]]:
        """The user's final list of ``k``: ``final_lists`` over ``base`` (the request's list, best first) with
        ``min(quota, k)`` reserved slots; each item with its judgment when a reserved slot holds it. Judgments of
        ``excluded`` items (the user's history, when the request excludes it) are left out first, and so are
        those of items in the categories of ``touched`` items (events posted with the request: a category the
        user has just touched is no longer unexpected)."""
        from recgpt.seral.channel import final_lists

        near = {self.category.get(item) for item in touched} - {None}
        judged = [j for j in self.judged.get(user, [])
                  if j.item_id not in excluded and self.category.get(j.item_id) not in near]
        config = self.config.model_copy(update={"list_size": k, "quota": min(self.config.quota, k)})
        by_item = {j.item_id: j for j in judged}
        return [(slot.item_id, by_item[slot.item_id] if slot.channel == "serendipity" else None)
                for slot in final_lists({user: base}, {user: judged}, config)]

    def summary(self) -> dict:
        return {"on": True, "scorer": self.config.scorer, "quota": self.config.quota,
                "min_score": self.config.min_score, "users": len(self.judged), "stale_users": len(self.stale)}


OFF = {"on": False, "scorer": None, "quota": 0, "min_score": None, "users": 0, "stale_users": 0}
