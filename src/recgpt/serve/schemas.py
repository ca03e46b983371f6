"""Request and response records of the HTTP API (pydantic; they make the OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, create_model

from recgpt.data.behaviors import BEHAVIORS

BehaviorName = Literal[BEHAVIORS]  # type: ignore[valid-type]
TagSource = Literal["llm", "item_titles", "none"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------- requests
class Event(Strict):
    """One behavior of the user on a catalog item (unix seconds, UTC)."""

    item_id: str = Field(min_length=1, max_length=200)
    behavior: BehaviorName = "purchase"
    timestamp: int = Field(0, ge=0, le=2**53)


class EventsRequest(Strict):
    """Recommendations from recent events: a user not in the run, or one with events newer than the run."""

    events: list[Event] = Field(description="the user's recent events, any order (sorted by timestamp)")
    user_id: str | None = Field(
        None, max_length=200, description="when the run knows this user: the run's history comes first, then "
        "these events, and the user's LLM tags and interests are used")
    k: int | None = Field(None, ge=1, description="list length (default and limit: the service's configuration)")
    beta: StrictFloat | None = Field(None, ge=0, le=1, description="fusion weight; default: the run's tuned beta")
    exclude_history: StrictBool = True


class BatchRequest(Strict):
    user_ids: list[str] = Field(min_length=1, description="users of the run")
    k: int | None = Field(None, ge=1)
    beta: StrictFloat | None = Field(None, ge=0, le=1)
    exclude_history: StrictBool = True


def limited_requests(max_k: int, max_events: int, max_batch_users: int) -> tuple[type, type]:
    """EventsRequest and BatchRequest with the service's limits in their schema (so the OpenAPI document states
    them and a request above them is a 422 naming the limit)."""
    k = (int | None, Field(None, ge=1, le=max_k, description="list length (default and limit: the service's "
                                                               "configuration)"))
    events = create_model("EventsRequest", __base__=EventsRequest, __doc__=EventsRequest.__doc__, k=k,
                          events=(list[Event], Field(max_length=max_events, description="the user's recent events, "
                                                     "any order (sorted by timestamp)")))
    batch = create_model("BatchRequest", __base__=BatchRequest, __doc__="Lists for many users of the run.", k=k,
                         user_ids=(list[str], Field(min_length=1, max_length=max_batch_users,
                                                    description="users of the run")))
    return events, batch


# ---------------------------------------------------------------------- answers
class RetrievedBy(BaseModel):
    """The query that put the item in the list: a tag fused with the user vector, or the user vector alone."""

    source: Literal["llm_tag", "item_title_tag", "collaborative", "serendipity"] = Field(
        description="serendipity: not retrieved by a query but a reserved slot of the serendipity channel")
    tag: str | None = Field(None, description="the tag text (an LLM tag, or the title of a recent item)")
    interest: str | None = Field(None, description="the interest the LLM predicted the tag for")
    tag_category: str | None = Field(None, description="phi's category of the LLM tag")


class ExplanationOut(BaseModel):
    text: str
    kind: Literal["interest", "item"] = Field(description="interest: written for an interest of the user; "
                                                          "item: the item-only explanation")
    interest: str = Field(description="the stored interest it explains ('' for item-only)")
    similarity: float = Field(description="1 for the user's own interest text, the MiniLM cosine otherwise, "
                                          "0 for item-only")


class SerendipityOut(BaseModel):
    """The cached judgment that put an item in a reserved slot of the SERAL serendipity channel."""

    scorer: str = Field(description="the seral scorer that judged it (e.g. serengpt.v1)")
    score: float = Field(description="in [0, 1]; 1: serendipitous (unexpected yet relevant) for the user")
    verdict: str
    reason: str = Field(description="the scorer's reason ('' for non-LLM scorers), to show beside the item")
    profile_version: str = Field(description="the user's cognition profile version it was judged for")


class RecommendedItem(BaseModel):
    rank: int
    item_id: str
    title: str
    category: str
    score: float = Field(description="inner product of the retrieving query and the item vector; for a "
                                     "serendipity slot, the scorer's score in [0, 1]")
    retrieved_by: RetrievedBy
    explanation: ExplanationOut | None
    channel: Literal["base", "serendipity"] = Field(
        "base", description="base: the retriever's list; serendipity: a slot reserved for the serendipity channel")
    serendipity: SerendipityOut | None = Field(None, description="the judgment of a serendipity slot, else null")


class Recommendations(BaseModel):
    user_id: str | None
    known_user: bool = Field(description="whether the run has this user")
    k: int
    beta: float
    tag_source: TagSource = Field(description="llm: the user's LLM tags (from the run's tag table); "
                                              "item_titles: titles of the user's last items; none: no tag")
    tags: list[str]
    interests: list[str]
    history_events: int = Field(description="events the user vector was computed from")
    serendipity_channel: Literal["off", "served", "stale", "no_judgments"] = Field(
        "off", description="served: the user's cached judgments fill the reserved slots (those scored at least the "
        "channel's min_score; the rest go back to the base list); stale: they were made for an older profile "
        "version, not served until `recgpt seral channel` refreshes them; no_judgments: none cached for the user; "
        "off: no channel (quota 0, no judgments in the run, or a list from posted events)")
    items: list[RecommendedItem]


class BatchAnswer(BaseModel):
    results: list[Recommendations]
    unknown_user_ids: list[str] = Field(description="asked users the run does not have (no list for them)")


class CompressedHistory(BaseModel):
    text: str
    n_events: int | None = None
    n_tokens: int | None = None
    dropped_partitions: int | None = None


class InterestOut(BaseModel):
    interest: str
    stage: str | None = None
    reason: str | None = None
    passed_checks: bool
    failed_check: str | None = None


class TagOut(BaseModel):
    tag: str
    interest: str | None = None
    reason: str | None = None
    category: str | None = Field(None, description="phi's category of the tag")
    passed_checks: bool
    failed_check: str | None = None


class Profile(BaseModel):
    user_id: str
    history_events: int
    compressed_history: CompressedHistory | None
    interests: list[InterestOut]
    tags: list[TagOut]


class StoredExplanation(BaseModel):
    interest: str = Field(description="'' for the item-only explanation")
    text: str


class Item(BaseModel):
    item_id: str
    title: str
    category: str
    brand: str | None = None
    price: float | None = None
    popularity: int = Field(description="events on the item in the run's visible history")
    explanations: list[StoredExplanation]


class Health(BaseModel):
    status: Literal["ok"]
    run: str
    users: int
    items: int
    loaded_at: float


class SerendipityChannelInfo(BaseModel):
    on: bool = Field(description="whether run users' lists have reserved serendipity slots")
    scorer: str | None = Field(None, description="the seral scorer whose cached judgments are served")
    quota: int = Field(0, description="reserved slots per list (at most k)")
    min_score: float | None = Field(None, description="a judgment fills a slot only when scored at least this")
    users: int = Field(0, description="users with judgments of their current profile version")
    stale_users: int = Field(0, description="users whose judgments are of an older profile version (not served)")


class RunInfo(BaseModel):
    run: str
    dataset: str
    users: int
    items: int
    beta: float
    loaded_at: float
    users_with_llm_tags: int
    users_with_interests: int
    explanations: dict[str, int]
    serendipity: SerendipityChannelInfo = Field(default_factory=lambda: SerendipityChannelInfo(on=False),
                                                description="the SERAL serendipity channel")


class ReloadAnswer(BaseModel):
    reloaded: bool = Field(description="false when the run folder had not changed")
    run: RunInfo
    seconds: float


class Problem(BaseModel):
    detail: str


class Rejected(BaseModel):
    """A 422: the request's own validation errors (a list), or a message naming what the run does not have."""

    detail: str | list[dict[str, Any]]
    unknown_item_ids: list[str] | None = Field(None, description="posted item ids not in the run's catalog")
