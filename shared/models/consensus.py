"""What consensus tools return: proposals, their tally and votes, and evidence from sandbox runs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shared.rules.voting import Rule

ProposalStatus = Literal["open", "passed", "rejected", "failed"]
ProposalKind = Literal["decision", "improvement"]


class OptionCount(BaseModel):
    option: str
    votes: int


class Tally(BaseModel):
    options: list[OptionCount]
    abstain: int
    cast: int = Field(description="votes cast, abstentions included (what the quorum counts)")
    not_voted: int
    electorate: int
    quorum: int


class Vote(BaseModel):
    agent: str
    choice: str = Field(description="an option, or 'abstain'")
    rationale: str | None
    cast_at: str
    changed: int = Field(description="how many times this agent changed its vote")


class Evidence(BaseModel):
    id: int
    agent: str
    command: str
    directory: str
    exit_code: int | None = Field(description="null when the command was stopped at its time limit")
    timed_out: bool
    duration_seconds: float
    output_tail: str = Field(description="the last part of stdout and stderr together")
    output_bytes: int = Field(description="the whole output's size; only the tail is kept")
    created_at: str


class Improvement(BaseModel):
    change: str = Field(description="what to change in how the team works")
    why: str
    expected_effect: str


class ProposalSummary(BaseModel):
    id: int
    kind: ProposalKind
    title: str
    status: ProposalStatus
    outcome: str | None = Field(description="the winning option (passed) or the rejecting option (rejected)")
    proposer: str
    options: list[str]
    rule: Rule
    deadline: str
    votes_cast: int
    electorate_size: int
    quorum: int
    your_vote: str | None
    awaiting_your_vote: bool = Field(description="open, you are an elector and have not voted")


class Proposal(ProposalSummary):
    description: str
    improvement: Improvement | None
    electorate: str = Field(description="how the electors were chosen: present, named or role:<role>")
    electors: list[str]
    not_voted: list[str]
    tally: Tally
    votes: list[Vote]
    outcome_reason: str | None
    created_at: str
    closed_at: str | None
    evidence: list[Evidence]


class ProposeResult(BaseModel):
    proposal: Proposal
    notified: list[str] = Field(description="electors who were sent a 'vote requested' notice")
    next_step: str


class VoteResult(BaseModel):
    """The short answer to a vote: the tally line, not the proposal (consensus_list(proposal_id=N) has it)."""

    proposal_id: int
    status: ProposalStatus
    outcome: str | None = None
    tally: str = Field(description="e.g. 'approve 2, reject 1, abstain 0; 3 of 4 voted, quorum 3'")
    your_vote: str
    changed: bool = Field(description="true when this replaced an earlier vote of yours")
    closed_now: bool = Field(description="true when your vote settled the proposal")
    next_step: str


class ProposalList(BaseModel):
    proposal: Proposal | None = Field(description="the one proposal asked for, in full")
    proposals: list[ProposalSummary] = Field(description="open ones awaiting your vote first")
    next_step: str


class SandboxResult(BaseModel):
    evidence: Evidence
    passed: bool = Field(description="the command exited with code 0 within its time limit")
    summary: str
    next_step: str
