"""The pure resolution rules: each rule at its edges, and early settlement checked against brute force."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from shared.rules.voting import RULES, Counts, Final, Rule, decide, reachable, resolve

YES_NO = ("approve", "reject")


def counts(
    votes: tuple[int, ...],
    *,
    rule: Rule = "majority",
    abstain: int = 0,
    electorate: int | None = None,
    quorum: int = 1,
    options: tuple[str, ...] = YES_NO,
) -> Counts:
    electorate = sum(votes) + abstain if electorate is None else electorate
    return Counts(options, votes, abstain, electorate, quorum, rule)


@pytest.mark.parametrize(
    ("rule", "votes", "abstain", "expected"),
    [
        # majority: more than half of the decisive votes
        ("majority", (3, 2), 0, ("passed", "approve")),
        ("majority", (2, 3), 0, ("rejected", "reject")),
        ("majority", (2, 2), 0, ("failed", None)),  # tie
        ("majority", (2, 2), 5, ("failed", None)),  # abstentions do not break a tie
        ("majority", (1, 0), 4, ("passed", "approve")),  # abstentions count for no option
        ("majority", (0, 0), 3, ("failed", None)),  # everyone abstained
        # two thirds: at least two thirds
        ("two_thirds", (2, 1), 0, ("passed", "approve")),  # exactly two thirds
        ("two_thirds", (3, 2), 0, ("rejected", "reject")),  # 60 %: the motion did not carry
        ("two_thirds", (1, 2), 0, ("rejected", "reject")),  # reject itself has two thirds
        ("two_thirds", (3, 3), 0, ("failed", None)),  # tie
        ("two_thirds", (4, 2), 1, ("passed", "approve")),
        # unanimous: every decisive vote
        ("unanimous", (4, 0), 0, ("passed", "approve")),
        ("unanimous", (4, 0), 2, ("passed", "approve")),  # abstaining does not block unanimity
        ("unanimous", (4, 1), 0, ("rejected", "reject")),
        ("unanimous", (0, 3), 0, ("rejected", "reject")),
        ("unanimous", (1, 1), 0, ("failed", None)),
    ],
)
def test_each_rule_decides_by_the_decisive_votes(
    rule: Rule, votes: tuple[int, int], abstain: int, expected: tuple[Final, str | None]
) -> None:
    assert decide(counts(votes, rule=rule, abstain=abstain)).key == expected


@pytest.mark.parametrize("rule", RULES)
def test_quorum_just_met_and_just_missed(rule: Rule) -> None:
    met = decide(counts((2, 0), rule=rule, abstain=1, electorate=5, quorum=3))
    assert met.key == ("passed", "approve")
    missed = decide(counts((2, 0), rule=rule, electorate=5, quorum=3))
    assert missed.key == ("failed", None)
    assert "no quorum: 2 of 5 electors voted and the quorum is 3" in missed.reason


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("choice", [0, 1, None])
def test_an_electorate_of_one_is_settled_by_its_only_vote(rule: Rule, choice: int | None) -> None:
    votes = (0, 0) if choice is None else tuple(int(i == choice) for i in range(2))
    c = counts(votes, rule=rule, abstain=int(choice is None), electorate=1)  # type: ignore[arg-type]
    decision = resolve(c, deadline_passed=False)
    assert decision is not None
    assert decision.key == {0: ("passed", "approve"), 1: ("rejected", "reject"), None: ("failed", None)}[choice]
    assert resolve(counts((0, 0), rule=rule, electorate=1), deadline_passed=False) is None


def test_options_without_a_rejecting_one_fail_when_no_option_clears_the_bar() -> None:
    three = ("now", "after the release", "never")
    decision = decide(counts((2, 1, 1), options=three))
    assert decision.key == ("failed", None)
    assert "no option reached a majority: now led with 2 of 4 votes" in decision.reason
    assert decide(counts((3, 1, 1), options=three)).key == ("passed", "now")
    assert decide(counts((1, 3), options=("yes", "no"))).key == ("rejected", "no")


def test_a_decisive_majority_closes_early_and_says_why() -> None:
    c = counts((3, 0), electorate=5, quorum=3)
    decision = resolve(c, deadline_passed=False)
    assert decision is not None and decision.key == ("passed", "approve")
    assert decision.reason.endswith("the 2 electors yet to vote could not change it")
    assert resolve(counts((2, 0), electorate=5, quorum=3), deadline_passed=False) is None


def test_the_deadline_closes_with_whatever_was_cast() -> None:
    decision = resolve(counts((1, 0), electorate=5, quorum=1), deadline_passed=True)
    assert decision is not None and decision.key == ("passed", "approve")
    assert decision.reason.endswith("closed at its deadline")
    late = resolve(counts((1, 0), electorate=5, quorum=2), deadline_passed=True)
    assert late is not None and late.key == ("failed", None)


# -- brute force -------------------------------------------------------------------------------------


def completions(c: Counts) -> Iterator[Counts]:
    """Every way the electors who have not voted could still vote (or not)."""
    buckets = len(c.options) + 2  # each option, abstain, does not vote
    for assignment in itertools.product(range(buckets), repeat=c.remaining):
        votes = list(c.votes)
        abstain = c.abstain
        for b in assignment:
            if b < len(votes):
                votes[b] += 1
            elif b == len(votes):
                abstain += 1
        yield Counts(c.options, tuple(votes), abstain, c.electorate, c.quorum, c.rule)


def ballot_boxes(max_electorate: int, options: tuple[str, ...]) -> Iterator[Counts]:
    n = len(options)
    for electorate in range(1, max_electorate + 1):
        for quorum in range(1, electorate + 1):
            for rule in RULES:
                for cast in itertools.product(range(electorate + 1), repeat=n + 1):
                    if sum(cast) <= electorate:
                        yield Counts(options, tuple(cast[:n]), cast[n], electorate, quorum, rule)


@pytest.mark.parametrize(
    ("max_electorate", "options"),
    [(6, YES_NO), (5, ("a", "b", "c")), (4, ("a", "b", "reject")), (5, ("yes", "no"))],
)
def test_reachable_outcomes_match_brute_force(max_electorate: int, options: tuple[str, ...]) -> None:
    checked = 0
    for c in ballot_boxes(max_electorate, options):
        expected = {decide(final).key for final in completions(c)}
        assert reachable(c) == expected, c
        checked += 1
    assert checked > 1000


@pytest.mark.parametrize("rule", RULES)
def test_early_closing_never_disagrees_with_any_later_ending(rule: Rule) -> None:
    for c in ballot_boxes(5, YES_NO):
        if c.rule != rule:
            continue
        early = resolve(c, deadline_passed=False)
        if early is not None:
            assert {decide(final).key for final in completions(c)} == {early.key}, c
