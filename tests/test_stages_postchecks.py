"""Every post-check of interests, tags and explanations, on hand-made candidates with known verdicts."""

import pytest

from recgpt.stages.config import ExplanationsConfig, InterestsConfig, TagsConfig
from recgpt.stages.explanation_checks import check_explanation
from recgpt.stages.postchecks import Candidate, EmbeddingCache, check_interests, check_tags, count_failures, shape_problem
from recgpt.stages.text import greedy_dedupe, season, to_date


@pytest.fixture(scope="module")
def vectors():
    return EmbeddingCache()


HISTORY = ["Pilot G2 Retractable Gel Ink Pens Blue", "Moleskine Classic Hard Cover Notebook Ruled", "Pens", "Notebooks"]


def test_interest_checks_drop_duplicates_hallucinations_and_cap(vectors):
    cands = [
        Candidate("writing with gel pens", "bought Pilot G2 gel ink pens"),
        Candidate("Writing with gel pens!", "bought pens again"),  # same text once normalised
        Candidate("smart home automation", "purchased smart home accessories"),  # Table 1's hallucination
        Candidate("journaling in notebooks", "bought a Moleskine notebook"),
        Candidate("", "nothing"),
        Candidate("buying paper", "bought notebooks"),  # Table 1's necessity
    ]
    verdicts = check_interests(cands, HISTORY, InterestsConfig(max_interests=5), vectors)
    assert verdicts == [None, "duplicate", "ungrounded", None, "empty", "necessity"]
    capped = check_interests(cands, HISTORY, InterestsConfig(max_interests=1), vectors)
    assert capped[3] == "over_cap"
    assert count_failures(capped) == {"passed": 1, "duplicate": 1, "ungrounded": 1, "over_cap": 1, "empty": 1,
                                      "necessity": 1}


def test_interest_without_history_is_ungrounded(vectors):
    assert check_interests([Candidate("pens", "bought pens")], [], InterestsConfig(), vectors) == ["ungrounded"]


def test_tag_checks_each_rule(vectors):
    recent = ["Pilot G2 Retractable Gel Ink Pens Blue 12 Pack"]
    cands = [
        Candidate("refillable fountain pen ink cartridges", "likes writing"),  # passes
        Candidate("pens", "one word"),  # shape: no modifier
        Candidate("TI-84 graphing calculator", "model number"),  # shape: model number
        Candidate("smart desk organizer", "vague"),  # vague word from Appendix B
        Candidate("sharpie permanent markers", "brand"),  # brand
        Candidate("retractable gel ink pens blue", "copies the recent item"),  # history copy
        Candidate("refillable fountain pen ink cartridge", "near-duplicate of the first"),
        Candidate("", "empty"),
    ]
    verdicts = check_tags(cands, recent, ["Sharpie", "Pilot"], TagsConfig(), vectors)
    assert verdicts == [None, "shape", "shape", "vague", "brand", "history_copy", "duplicate", "empty"]


def test_tag_vague_words_are_extendable(vectors):
    config = TagsConfig(extra_vague_words=["deluxe"])
    assert check_tags([Candidate("deluxe desk lamp", "r")], [], [], config, vectors) == ["vague"]
    assert check_tags([Candidate("adjustable desk lamp", "r")], [], [], config, vectors) == [None]


def test_shape_rejects_sentences_and_dangling_words():
    assert not shape_problem("outdoor waterproof non-slip hiking boots", 2, 8)
    assert shape_problem("I think you will like these boots.", 2, 8)
    assert shape_problem("boots for", 2, 8)
    assert shape_problem("a b c d e f g h i", 2, 8)


@pytest.mark.parametrize(
    "text, verdict",
    [
        ("Sketch city parks in a pocket journal", None),
        ("Sketch mountain trails in a pocket journal", "example_copy"),  # the prompt's example, nearly verbatim
        ("Sketch mountain trails in a pocket-sized journal", "example_copy"),
        ("Great pen", "length"),
        ("one two three four five six seven eight nine ten eleven twelve thirteen", "length"),
        ("A truly versatile companion for every desk", "filler"),
        ("Write to jane.doe@example.com for this pen", "personal_data"),
        ("Call 555-123-4567 today about these pens", "personal_data"),
        ("Delivered to 12 Baker Street for your notes", "personal_data"),
        ("Alice will love sketching with these pens", "personal_data"),  # a name from the input
        ("Pilot G2 retractable gel ink pens blue", "title_copy"),
        ("Pen pen pen writes pen lines daily", "repetition"),
    ],
)
def test_explanation_checks(text, verdict):
    title = "Pilot G2 Retractable Gel Ink Pens Blue 12 Pack"
    assert check_explanation(text, title, ExplanationsConfig(), personal_terms=["Alice"]) == verdict


def test_text_helpers():
    assert season(to_date("2024-07-01")) == "summer" and season(to_date("2024-12-01")) == "winter"
    assert season(to_date("2024-07-01"), southern=True) == "winter"
    kept, dropped = greedy_dedupe(["Gel pens", "gel  PENS", "notebooks"], None, 0.9)
    assert kept == [0, 2] and dropped == [1]
