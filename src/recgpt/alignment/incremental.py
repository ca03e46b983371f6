"""The incremental-learning training set of the tag task (report 2.2.2), from the training fold's logs.

For every user, reliable behaviors of a recent window (the last N behaviors, or those of the last N days) are
targets, and the history before them is the input, strictly in time order and from ``dataset.events`` alone
(the training fold: a dev or test target is never a target, and no target is in its own input). With
``positions: all`` every reliable behavior after ``min_history`` starts a cut, with the next ``horizon``
behaviors as its targets, which gives a set as large as the logs. Then the report's three steps:

1. **Purification** (rules): a target whose tag (its title shortened to "modifier + core word") the tag stage's
   post-checks would reject (bad shape, vague word, brand, a copy of a recent item, a duplicate) is dropped;
   with ``purify: judge`` an LLM judge then drops the behaviors it finds irrelevant or untimely (``purify.py``).
2. **Interest completion**: each kept target becomes a (tag, interest, rationale) triplet; the interest is the
   user's mined interest whose tags phi maps to the item's category, else the category's own interest
   (``category_interest``); the rationale is built from the behavior. The sample's provenance says which.
3. **Balancing**: at most ``per_user`` targets per user (a seeded sample), then at most ``per_category`` per
   phi category of the tag.

The kept targets of one cut and one interest make one sample: the tag stage's prompt for that interest,
rendered from the user's context at the cut by the stage's own template (asking for exactly as many tags as
the completion holds), and the completion ``{"tags": [{"tag", "reason"}, ...]}``.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recgpt.alignment.config import IncrementalConfig
from recgpt.alignment.purify import JudgePurifier, behavior_item
from recgpt.alignment.records import TrainingSample, TrainingSet, TrainingSetError
from recgpt.data.behaviors import DEFAULT_RELIABLE_BEHAVIORS
from recgpt.llm.base import as_messages
from recgpt.llm.prompts import PromptLibrary
from recgpt.progress import ProgressFn, reporter
from recgpt.stages.config import TagsConfig
from recgpt.stages.context import CatalogTexts, UserContext, attributes_text, user_context
from recgpt.stages.interest_pool import category_interest
from recgpt.stages.phi import short_title
from recgpt.stages.postchecks import Candidate, EmbeddingCache, check_tags
from recgpt.stages.schemas import PredictedTag, TagsAnswer
from recgpt.stages.tags import TASK, CatalogHints, tag_requests

BUILDER = "incremental.v1"
TAG_MAX_CHARS = PredictedTag.model_fields["tag"].metadata[0].max_length
DAY = 86400
log = logging.getLogger("recgpt.alignment")


@dataclass
class Target:
    """One behavior to predict: its position in the user's events, item, tag text and phi category."""

    index: int
    item_id: str
    tag: str
    category: str = ""
    interest: str = ""
    reason: str = ""
    interest_source: str = ""


def cuts(events: list[dict], config: IncrementalConfig, reliable: set[str]) -> list[tuple[int, list[int]]]:
    """(cut, target indexes) of one user's time-ordered events: the input is ``events[:cut]``; targets are
    reliable behaviors at or after the cut, inside the window, never after its end."""
    reliable_at = [i for i, e in enumerate(events) if e["behavior"] in reliable]
    if config.skip_last:  # an older window: the user's last behaviors are neither targets nor input
        reliable_at = reliable_at[: max(0, len(reliable_at) - config.skip_last)]
    if config.positions == "all":
        out = []
        for k, i in enumerate(reliable_at):
            if i >= config.min_history:
                out.append((i, reliable_at[k:k + config.horizon]))
        return out
    if config.window == "last_n":
        window = reliable_at[-config.last_n:]
    else:
        last = events[reliable_at[-1]]["timestamp"] if reliable_at else 0
        window = [i for i in reliable_at if events[i]["timestamp"] > last - config.days * DAY]
    window = [i for i in window if i >= config.min_history]
    return [(window[0], window)] if window else []


class IncrementalSetBuilder:
    """Builds the set from a data set, phi, the tag stage's configuration and, when the pipeline has mined
    them, the users' interests (user -> interests) with each interest's phi categories."""

    def __init__(self, dataset, phi, tags_config: TagsConfig, config: IncrementalConfig,
                 mined: dict[str, dict[str, set[str]]] | None = None, prompts: PromptLibrary | None = None,
                 system_prompt: str | None = None, vectors: EmbeddingCache | None = None,
                 purifier: JudgePurifier | None = None):
        if (config.purify == "judge") != (purifier is not None):
            raise ValueError("incremental.purify=judge needs a judge purifier, and only it takes one")
        if tags_config.call != "per_interest":
            raise TrainingSetError("the incremental-learning set asks the tag prompt per interest: set tags.call: "
                                   "per_interest (and a per-interest template_version) to build it")
        self.dataset, self.phi, self.tags_config, self.config = dataset, phi, tags_config, config
        self.purifier = purifier
        self.mined = mined or {}
        self.prompts = prompts or PromptLibrary()
        self.system_prompt = system_prompt
        self.vectors = vectors or EmbeddingCache()
        self.texts = CatalogTexts.of(dataset)
        items = dataset.items.to_pylist()
        self.items = {r["item_id"]: r for r in items}
        self.brands = sorted({r["brand"] for r in items if r["brand"]})
        from recgpt.data.catalog import Catalog

        popularity = Catalog.from_table(dataset.items).count_by_id(dataset.events)
        self.hints = CatalogHints(dataset.items, popularity, phi)
        self.counts: Counter = Counter()
        self._category_of_tag: dict[str, str] = {}

    def _warm(self) -> None:
        """Embed every item's tag and text in a few large batches, and map every item tag through phi once:
        the per-user checks then only look vectors and categories up (ten times faster than per user)."""
        tags = sorted({self.tag_of(i) for i in self.items})
        self.vectors.warm(tags + sorted(set(self.texts.text.values())))
        self._category_of_tag = dict(zip(tags, self.phi.predict(tags))) if tags else {}

    def tag_of(self, item_id: str) -> str:
        item = self.items[item_id]
        return short_title(item["title"], item["brand"], self.config.tag_words)

    def build(self, progress: ProgressFn | None = None) -> TrainingSet:
        progress = reporter(progress)
        self._warm()
        events_of, queries_of, attributes = self._per_user()
        users = sorted(events_of)
        if self.config.max_users is not None and len(users) > self.config.max_users:
            rng = np.random.default_rng(self.config.seed)
            users = sorted(rng.choice(users, size=self.config.max_users, replace=False).tolist())
        heldout = self._heldout_users(users)
        reliable = set(map(str, DEFAULT_RELIABLE_BEHAVIORS))
        plans_of: dict[str, list[tuple[int, UserContext, list[Target]]]] = {}
        for n, user in enumerate(users, 1):
            plans_of[user] = self._plans(user, events_of[user], queries_of[user], attributes.get(user, ""), reliable)
            if n % 200 == 0 or n == len(users):
                progress("reading the windows", n, len(users))
        if self.purifier is not None:
            self._judged(plans_of, events_of)
        samples: list[TrainingSample] = []
        for n, user in enumerate(users, 1):
            plans = plans_of[user]
            kept = self._balanced(user, [t for _, _, targets in plans for t in targets])
            for cut, context, targets in plans:
                chosen = [t for t in targets if id(t) in kept]
                samples += self._samples(user, context, chosen, "heldout" if user in heldout else "train",
                                         events_of[user][cut])
            if n % 200 == 0 or n == len(users):
                progress("building the incremental-learning set", n, len(users), samples=len(samples))
        self.counts["samples"] = len(samples)
        self.counts["users_with_samples"] = len({s.user_id for s in samples})
        if not samples:
            raise TrainingSetError(
                f"the incremental-learning set is empty ({dict(self.counts)}): every target was purified away or "
                "no user has enough history; lower incremental.min_history or use purify: none")
        log.info("incremental-learning set: %s", dict(self.counts))
        version = self.prompts.resolve(TASK, self.tags_config.template_version)[0]
        return TrainingSet(samples, BUILDER, TASK, version, self.config.model_dump(mode="json"), dict(self.counts))

    def _plans(self, user: str, events: list[dict], queries: list[dict], attributes: str,
               reliable: set[str]) -> list[tuple[int, UserContext, list[Target]]]:
        """(cut, the user's context at the cut, the window's targets that pass the rules) per cut."""
        plans = []
        for cut, indexes in cuts(events, self.config, reliable):
            context = user_context(user, events[:cut], [q for q in queries if q["timestamp"] < events[cut]["timestamp"]],
                                   attributes, "", self.texts, self.tags_config.recent_days,
                                   self.tags_config.sequence_items, self.tags_config.current_date)
            targets = self._purified(context, [Target(i, events[i]["item_id"], self.tag_of(events[i]["item_id"]))
                                               for i in indexes])
            plans.append((cut, context, targets))
        return plans

    # ------------------------------------------------------------------ inputs
    def _per_user(self):
        history = self.dataset.history("dev").to_pylist()  # the training fold, sorted by user then time
        events_of: dict[str, list[dict]] = defaultdict(list)
        for row in history:
            events_of[row["user_id"]].append(row)
        queries_of: dict[str, list[dict]] = defaultdict(list)
        for row in self.dataset.searches.sort_by([("user_id", "ascending"), ("timestamp", "ascending")]).to_pylist():
            queries_of[row["user_id"]].append(row)
        attributes = {row["user_id"]: attributes_text(row) for row in self.dataset.users.to_pylist()}
        return events_of, queries_of, attributes

    def _heldout_users(self, users: list[str]) -> set[str]:
        """Whole users are held out (never a user in both splits), a seeded share of them."""
        if not self.config.holdout_share or len(users) < 2:
            return set()
        n = max(1, int(round(self.config.holdout_share * len(users))))
        return set(random.Random(self.config.seed).sample(users, n))

    # ------------------------------------------------------------------ the three steps
    def _purified(self, context: UserContext, targets: list[Target]) -> list[Target]:
        """Step 1 by rules (``purify: rules`` and ``judge``, which asks the judge about what the rules keep)."""
        self.counts["targets"] += len(targets)
        fits = [t for t in targets if len(t.tag) <= TAG_MAX_CHARS]  # longer ones cannot be written as an answer
        self.counts["dropped_too_long"] += len(targets) - len(fits)
        targets = fits
        if self.config.purify == "none" or not targets:
            return targets
        verdicts = check_tags([Candidate(t.tag, "") for t in targets], context.recent, self.brands,
                              self.tags_config, self.vectors)
        self.counts.update(f"purified_{v}" for v in verdicts if v)
        return [t for t, v in zip(targets, verdicts) if v is None]

    def _judged(self, plans_of: dict[str, list], events_of: dict[str, list[dict]]) -> None:
        """Step 1 with the judge: every target the rules kept is asked about once (in batches, resumable through
        the judge buffer); the ones it finds irrelevant or untimely leave their plan."""
        asked = []
        for user, plans in plans_of.items():
            events = events_of[user]
            for _, context, targets in plans:
                earlier = [self.tag_of(i) for i in reversed(context.history_item_ids)][:15]
                for t in targets:
                    event, item = events[t.index], self.items[t.item_id]
                    when = dt.datetime.fromtimestamp(event["timestamp"], dt.timezone.utc).date()
                    asked.append((t, behavior_item(user, item["title"], item["category"], str(event["behavior"]),
                                                   when, earlier)))
        keep = self.purifier.keep([item for _, item in asked])
        dropped = {id(t) for (t, _), ok in zip(asked, keep) if not ok}
        for plans in plans_of.values():
            for _, _, targets in plans:
                targets[:] = [t for t in targets if id(t) not in dropped]
        self.counts.update(self.purifier.counts)

    def _balanced(self, user: str, targets: list[Target]) -> set[int]:
        """ids of the targets kept: a seeded sample of ``per_user``, then ``per_category`` per phi category."""
        rng = random.Random(f"{self.config.seed}:{user}")
        if len(targets) > self.config.per_user:
            self.counts["balanced_per_user"] += len(targets) - self.config.per_user
            targets = rng.sample(targets, self.config.per_user)
        unknown = [t.tag for t in targets if t.tag not in self._category_of_tag]
        if unknown:
            self._category_of_tag.update(zip(unknown, self.phi.predict(unknown)))
        for t in targets:
            t.category = self._category_of_tag[t.tag]
        per_category: Counter = Counter()
        kept = set()
        for t in sorted(targets, key=lambda t: t.index):
            if per_category[t.category] < self.config.per_category:
                per_category[t.category] += 1
                kept.add(id(t))
            else:
                self.counts["balanced_per_category"] += 1
        return kept

    def _complete(self, user: str, context: UserContext, target: Target) -> None:
        """Interest completion: the mined interest whose phi categories hold the item's category, else the
        category's interest; the rationale names the behavior and the closest earlier item of that category."""
        category = self.items[target.item_id]["category"]
        mined = [interest for interest, cats in self.mined.get(user, {}).items() if category in cats]
        target.interest, target.interest_source = (mined[0], "mined") if mined else (category_interest(category),
                                                                                      "category")
        earlier = [i for i, c in zip(reversed(context.history_item_ids), reversed(context.history_categories))
                   if c == category]
        basis = f"after {self.tag_of(earlier[0])}" if earlier else "new for this user"
        target.reason = f"fits {target.interest}, {basis}"[:120]

    def _samples(self, user: str, context: UserContext, targets: list[Target], split: str,
                 cut_event: dict) -> list[TrainingSample]:
        for t in targets:
            self._complete(user, context, t)
        by_interest: dict[str, list[Target]] = defaultdict(list)
        for t in targets:
            by_interest[t.interest].append(t)
        interests = list(by_interest)
        requests = tag_requests(context, interests, self.tags_config.model_copy(
            update={"interests_per_user": len(interests)}), self.hints)
        out = []
        for request, interest in zip(requests, interests):
            group = by_interest[interest]
            variables = {**request.variables, "n": len(group)}
            text = self.prompts.render(TASK, variables, self.tags_config.template_version).text
            answer = TagsAnswer(tags=[PredictedTag(tag=t.tag, reason=t.reason) for t in group])
            out.append(TrainingSample(
                task=TASK, messages=as_messages(text, self.system_prompt), completion=answer.model_dump_json(),
                source="logs", user_id=user, split=split,
                provenance={"cut_timestamp": cut_event["timestamp"], "items": [t.item_id for t in group],
                            "categories": [t.category for t in group], "interest_source": group[0].interest_source},
            ))
        return out


def mined_interests(interests: pa.Table | None, phi, top: int = 2) -> dict[str, dict[str, set[str]]]:
    """user -> {mined interest -> the ``top`` categories phi gives the interest's text}, from the interest
    stage's table of kept interests (empty when the stage has not run)."""
    if interests is None or interests.num_rows == 0:
        return {}
    if "passed_checks" in interests.column_names:
        interests = interests.filter(pc.fill_null(interests.column("passed_checks"), False))
    rows = interests.select(["user_id", "interest"]).to_pylist()
    texts = sorted({r["interest"] for r in rows if r["interest"]})
    categories = {t: {c for c, _ in ranked} for t, ranked in zip(texts, phi.predict_topk(texts, top))} if texts else {}
    out: dict[str, dict[str, set[str]]] = defaultdict(dict)
    for r in rows:
        if r["interest"]:
            out[r["user_id"]][r["interest"]] = categories[r["interest"]]
    return dict(out)
