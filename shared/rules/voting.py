"""How a vote comes out: a pure function of the counts, and whether the counts can still change it.

Definitions (the README repeats them for people):
- Votes for options are *decisive*; an abstention counts toward the quorum but for no option.
- The quorum is a number of votes cast, abstentions included. Below it the proposal fails.
- majority: an option has more than half of the decisive votes; two_thirds: at least two thirds of them;
  unanimous: all of them (and there is at least one).
- The option that clears the rule's bar wins: the proposal passes with it, or is rejected when it is a
  rejecting option ("reject", "no"). When no option clears the bar: a tie at the top fails; otherwise a
  proposal that has a rejecting option is rejected (the motion did not carry) and one without fails.
- A proposal is *settled* when no way the electors who have not voted yet could vote (or not vote)
  leads to a different status or winning option. Votes already cast are taken as they are.

`reachable` computes the set of final decisions exactly without enumerating ballots; the tests compare it
with brute-force enumeration over every small electorate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Rule = Literal["majority", "two_thirds", "unanimous"]
RULES: tuple[Rule, ...] = ("majority", "two_thirds", "unanimous")
RULE_WORDS = {"majority": "a majority", "two_thirds": "two thirds", "unanimous": "unanimity"}
Final = Literal["passed", "rejected", "failed"]
REJECTING = frozenset({"reject", "no"})
ABSTAIN = "abstain"


@dataclass(frozen=True)
class Counts:
    """A proposal's ballot box: votes per option (in the proposal's order), abstentions, and the bar."""

    options: tuple[str, ...]
    votes: tuple[int, ...]
    abstain: int
    electorate: int
    quorum: int
    rule: Rule

    @property
    def cast(self) -> int:
        return sum(self.votes) + self.abstain

    @property
    def remaining(self) -> int:
        """Electors who have not voted yet."""
        return max(self.electorate - self.cast, 0)

    @property
    def rejecting(self) -> str | None:
        """The option that means "no", if the proposal has one."""
        return next((o for o in self.options if o.lower() in REJECTING), None)


@dataclass(frozen=True)
class Decision:
    status: Final
    option: str | None  # the winning option when passed; the rejecting option when rejected; None when failed
    reason: str

    @property
    def key(self) -> tuple[Final, str | None]:
        return self.status, self.option


def meets(rule: Rule, votes: int, decisive: int) -> bool:
    """Does an option with `votes` of `decisive` votes clear the rule's bar? (integers only, no rounding)"""
    if votes < 1:
        return False
    if rule == "majority":
        return 2 * votes > decisive
    if rule == "two_thirds":
        return 3 * votes >= 2 * decisive
    return votes == decisive


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def decide(c: Counts) -> Decision:
    """The outcome if the proposal closed with these counts now."""
    if c.cast < c.quorum:
        return Decision(
            "failed", None, f"no quorum: {c.cast} of {c.electorate} electors voted and the quorum is {c.quorum}"
        )
    decisive = sum(c.votes)
    abstained = f" ({_plural(c.abstain, 'abstention')})" if c.abstain else ""
    if decisive == 0:
        return Decision("failed", None, f"every one of the {c.cast} votes was an abstention")
    for option, n in zip(c.options, c.votes, strict=True):
        if meets(c.rule, n, decisive):
            status: Final = "rejected" if option == c.rejecting else "passed"
            return Decision(status, option, f"{option} has {n} of {decisive} votes{abstained}: {RULE_WORDS[c.rule]}")
    top = max(c.votes)
    leaders = [o for o, n in zip(c.options, c.votes, strict=True) if n == top]
    if len(leaders) > 1:
        return Decision("failed", None, f"tie: {' and '.join(leaders)} have {_plural(top, 'vote')} each{abstained}")
    short = f"{leaders[0]} led with {top} of {decisive} votes{abstained}, short of {RULE_WORDS[c.rule]}"
    if c.rejecting is not None:
        return Decision("rejected", c.rejecting, f"the proposal did not carry: {short}")
    return Decision("failed", None, f"no option reached {RULE_WORDS[c.rule]}: {short}")


def reachable(c: Counts) -> set[tuple[Final, str | None]]:
    """Every (status, option) the proposal could still close with, whatever the remaining electors do."""
    remaining, votes, decisive = c.remaining, c.votes, sum(c.votes)
    out: set[tuple[Final, str | None]] = set()
    failed: tuple[Final, str | None] = ("failed", None)
    no_bar: tuple[Final, str | None] = ("rejected", c.rejecting) if c.rejecting is not None else failed
    if c.cast < c.quorum:
        out.add(failed)  # nobody else votes
        if c.cast + remaining < c.quorum:
            return out
    # From here the quorum can be met: any addition of up to `remaining` decisive votes is possible, the
    # rest of the quorum made up by abstentions. Each label is checked for the most favourable addition.
    if decisive == 0:
        out.add(failed)  # everyone (so far, and perhaps the rest) abstains
    for i, option in enumerate(c.options):
        if meets(c.rule, votes[i] + remaining, decisive + remaining):  # all remaining votes for it
            out.add(("rejected" if option == c.rejecting else "passed", option))
    first, second = sorted(votes, reverse=True)[:2]
    level = max(first, 1)
    if (level - first) + (level - second) <= remaining:  # raise the top two to a tie
        out.add(failed)
    for i in range(len(votes)):
        others = [n for j, n in enumerate(votes) if j != i]
        for extra in range(max(0, max(others) + 1 - votes[i]), remaining + 1):
            top = votes[i] + extra  # a unique leader; give the others as many votes as keeps it unique
            room = sum(top - 1 - n for n in others)
            more = min(remaining - extra, room)
            if not meets(c.rule, top, decisive + extra + more):
                out.add(no_bar)
                break
    return out


def settled(c: Counts) -> bool:
    """True when the outcome can no longer change (this includes everyone having voted)."""
    return len(reachable(c)) == 1


def resolve(c: Counts, *, deadline_passed: bool) -> Decision | None:
    """The decision to close with now, or None while the proposal stays open."""
    if deadline_passed:
        d = decide(c)
        return Decision(d.status, d.option, f"{d.reason}; closed at its deadline")
    if c.remaining == 0:
        d = decide(c)
        return Decision(d.status, d.option, f"{d.reason}; every elector voted")
    if settled(c):
        d = decide(c)
        waiting = _plural(c.remaining, "elector")
        return Decision(d.status, d.option, f"{d.reason}; the {waiting} yet to vote could not change it")
    return None
