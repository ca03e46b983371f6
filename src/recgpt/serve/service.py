"""The answers of the API, computed from a loaded :class:`~recgpt.serve.state.ServeState` (no HTTP here).

Each function returns the response records of :mod:`recgpt.serve.schemas`; an unknown user or item raises
:class:`NotFound` (HTTP 404) and a request it cannot answer :class:`Unprocessable` (HTTP 422).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from recgpt.data.behaviors import BEHAVIORS
from recgpt.errors import RecgptError
from recgpt.serve import schemas as s
from recgpt.serve.engine import LLM, TITLES, UserPlan

BEHAVIOR_CODE = {b: i for i, b in enumerate(BEHAVIORS)}
NEW_USER_HINT = ("for a user the run does not have, POST their recent events to /v1/recommendations, e.g. "
                 '{"events": [{"item_id": "...", "behavior": "purchase", "timestamp": 1700000000}]}')


class NotFound(RecgptError, LookupError):
    """A user or item id the run does not have (HTTP 404)."""


class Unprocessable(RecgptError, ValueError):
    """A request the service cannot answer as asked (HTTP 422); ``fields`` go into the answer beside the
    message (e.g. ``unknown_item_ids``)."""

    def __init__(self, message: str, **fields):
        super().__init__(message)
        self.fields = fields


def unknown_user(state, user_id: str) -> NotFound:
    return NotFound(f"user {user_id!r} is not in the run ({len(state.users)} users); {NEW_USER_HINT}")


def recommend_users(state, user_ids: list[str], k: int, beta: float, exclude_history: bool = True,
                    tally: Counter | None = None) -> list[s.Recommendations]:
    """Lists for users of the run (every id must be one; see :func:`unknown_user`), with the serendipity
    channel's reserved slots when the run serves it (:mod:`recgpt.serve.serendipity`)."""
    plans = state.engine.plans(user_ids)
    return _answers(state, plans, [state.interests.get(u, []) for u in user_ids], k, beta, exclude_history,
                    [len(state.engine.model.history.get(u)[0]) for u in user_ids], tally)


def recommend_events(state, body: s.EventsRequest, k: int, beta: float, max_events: int,
                     tally: Counter | None = None) -> s.Recommendations:
    """A list from posted events: the user tower embeds them on the fly (after the run's history when the
    run knows ``body.user_id``); tags are the user's LLM tags when the run has them, else item-title tags."""
    if len(body.events) > max_events:
        raise Unprocessable(f"{len(body.events)} events; this service takes at most {max_events} per request")
    unknown = list(dict.fromkeys(e.item_id for e in body.events if e.item_id not in state.items))
    if unknown:
        raise Unprocessable(f"{len(unknown)} item id(s) of the events are not in the run's catalog "
                            f"({len(state.items)} items): {', '.join(map(repr, unknown[:10]))}",
                            unknown_item_ids=unknown[:100])
    engine = state.engine
    events = sorted(body.events, key=lambda e: e.timestamp)
    items = engine.catalog.positions([e.item_id for e in events])
    behaviors = np.array([BEHAVIOR_CODE[e.behavior] for e in events], dtype=np.int64)
    known = body.user_id is not None and body.user_id in state.users
    user = body.user_id if body.user_id is not None else ""
    if known:
        old_items, old_behaviors = engine.model.history.get(body.user_id)
        items, behaviors = np.concatenate([old_items, items]), np.concatenate([old_behaviors, behaviors])
    plan = engine.make_plans([user], [(items, behaviors)], use_llm_tags=known)[0]
    plan.known = known
    interests = state.interests.get(body.user_id, []) if known else []
    posted = {e.item_id for e in events}
    answer = _answers(state, [plan], [interests], k, beta, body.exclude_history, [len(items)], tally,
                      posted=[posted])[0]
    answer.user_id = body.user_id
    return answer


def _answers(state, plans: list[UserPlan], interests: list[list[str]], k: int, beta: float,
             exclude_history: bool, n_events: list[int], tally: Counter | None,
             posted: list[set[str]] | None = None) -> list[s.Recommendations]:
    """The answer of each plan, with the serendipity channel's reserved slots when the state has a channel and
    the user has current judgments; ``posted``: per plan, the items of events posted with the request
    (left out of the reserved slots with their categories, and with the history when it is excluded)."""
    engine, lookup, catalog = state.engine, state.explanations, state.engine.catalog
    channel = state.channel
    posted = posted or [set() for _ in plans]
    out = []
    ranking = engine.rank(plans, k, beta, exclude_history)
    for plan, ranked, mine, count, fresh in zip(plans, ranking, interests, n_events, posted):
        base = {str(catalog.item_ids[pos]): (float(score), _via(plan, int(via)))
                for pos, score, via in zip(ranked.positions, ranked.scores, ranked.via) if pos >= 0}
        status = "off" if channel is None else channel.status(plan.user_id)
        excluded = (_history(state, plan.user_id) | fresh) if exclude_history and status == "served" else set()
        order = ([(item_id, None) for item_id in base] if status != "served" else
                 channel.arrange(plan.user_id, list(base), k, excluded, touched=fresh))
        rows = []
        for item_id, judgment in order:
            found = lookup.lookup(mine, item_id)
            if tally is not None:
                tally[found.kind if found else "none"] += 1
            score, via = base[item_id] if judgment is None else (judgment.score, SERENDIPITY)
            # model_construct: every value is built here with its declared type, no validation needed
            rows.append(s.RecommendedItem.model_construct(
                rank=len(rows) + 1, item_id=item_id, title=catalog.titles[catalog.lookup[item_id]],
                category=state.items[item_id]["category"], score=score,
                retrieved_by=via, explanation=None if found is None else s.ExplanationOut.model_construct(
                    text=found.text, kind=found.kind, interest=found.interest, similarity=round(found.similarity, 4)),
                channel="base" if judgment is None else "serendipity",
                serendipity=None if judgment is None else s.SerendipityOut.model_construct(
                    scorer=judgment.scorer, score=judgment.score, verdict=judgment.verdict, reason=judgment.reason,
                    profile_version=judgment.profile_version),
            ))
        out.append(s.Recommendations(
            user_id=plan.user_id, known_user=plan.known, k=k, beta=beta, tag_source=plan.tag_source,
            tags=[t.text for t in plan.tags], interests=list(mine), history_events=int(count),
            serendipity_channel=status, items=rows))
    return out


def _history(state, user_id: str) -> set[str]:
    """The item ids of a run user's visible history (what ``exclude_history`` leaves out of a list)."""
    positions = state.engine.model.history.get(user_id)[0]
    return {str(state.engine.catalog.item_ids[p]) for p in positions}


def _via(plan: UserPlan, index: int) -> s.RetrievedBy:
    if index < 0:
        return COLLABORATIVE
    tag = plan.tags[index]
    if tag.source == TITLES:
        return s.RetrievedBy.model_construct(source="item_title_tag", tag=tag.text, interest=None, tag_category=None)
    assert tag.source == LLM
    return s.RetrievedBy.model_construct(source="llm_tag", tag=tag.text, interest=tag.interest,
                                         tag_category=tag.category)


COLLABORATIVE = s.RetrievedBy(source="collaborative")
SERENDIPITY = s.RetrievedBy(source="serendipity")


def profile(state, user_id: str) -> s.Profile:
    """The user's chain before retrieval: compressed behavior, interests and tags with their verdicts."""
    if user_id not in state.users:
        raise unknown_user(state, user_id)
    row = state.compressed.get(user_id)
    compressed = None if row is None else s.CompressedHistory(
        text=row.get("text") or "", n_events=row.get("n_events"), n_tokens=row.get("n_tokens"),
        dropped_partitions=row.get("dropped_partitions"))
    interests = [s.InterestOut(interest=r["interest"], stage=r.get("stage"), reason=r.get("reason"),
                               passed_checks=bool(r.get("passed_checks", True)), failed_check=r.get("failed_check"))
                 for r in state.interest_rows.get(user_id, [])]
    tags = [s.TagOut(tag=r["tag"], interest=r.get("interest"), reason=r.get("reason"), category=r.get("category"),
                     passed_checks=bool(r.get("passed_checks", True)), failed_check=r.get("failed_check"))
            for r in state.tag_rows.get(user_id, [])]
    return s.Profile(user_id=user_id, history_events=len(state.engine.model.history.get(user_id)[0]),
                     compressed_history=compressed, interests=interests, tags=tags)


def item(state, item_id: str, limit: int) -> s.Item:
    row = state.items.get(item_id)
    if row is None:
        raise NotFound(f"item {item_id!r} is not in the run's catalog ({len(state.items)} items)")
    price = row.get("price")
    return s.Item(item_id=item_id, title=row["title"], category=row["category"], brand=row.get("brand"),
                  price=None if price is None or price != price else float(price), popularity=row["popularity"],
                  explanations=[s.StoredExplanation(interest=i, text=t)
                                for i, t in state.explanations.for_item(item_id, limit)])
