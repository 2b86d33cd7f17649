"""The judge's reply parsing and its summary on fixed judgments."""

from __future__ import annotations

from skytells_lab.comparison.judge import parse, summarize


def test_parse_takes_one_letter():
    assert parse("A") == "A" and parse(" B.") == "B" and parse("Answer A is better") == "A"
    assert parse("A or B") is None and parse("neither") is None and parse(None) is None


def test_a_judge_that_always_picks_the_first_answer_agrees_on_nothing():
    judgments = []
    for position in range(4):
        for order, first, second in (("baseline first", "base", "new"), ("model first", "new", "base")):
            judgments.append({"model": "new", "baseline": "base", "_position": position, "order": order,
                              "position": "A", "preferred": first})
    row = summarize(judgments).iloc[0]
    assert (row["wins"], row["losses"], row["ties"]) == (0, 0, 4)
    assert row["agreement"] == 0.0 and row["position_bias"] == 0.5 and row["win_rate"] == 0.5


def test_a_consistent_judge_gives_a_win_rate():
    judgments = []
    for position, winner in enumerate(["new", "new", "new", "base"]):
        for letter in ("A", "B"):
            judgments.append({"model": "new", "baseline": "base", "_position": position, "position": letter,
                              "preferred": winner})
    row = summarize(judgments).iloc[0]
    assert (row["wins"], row["losses"], row["ties"]) == (3, 1, 0)
    assert row["win_rate"] == 0.75 and row["agreement"] == 1.0 and row["position_bias"] == 0.0
    assert row["ci_low"] <= 0.75 <= row["ci_high"]
