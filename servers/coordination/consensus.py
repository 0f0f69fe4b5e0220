"""Consensus tools: propose a decision or an improvement, vote, list, and test an improvement in a sandbox.

Module-level tools (`TOOLS`, registered by servers/coordination/__init__.py `build_server`) over the store
in shared/store/proposals, and the background job `CLOSING` that closes proposals whose deadline passed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import AfterValidator, Field, StringConstraints

from shared.actor import Actor
from shared.errors import InvalidArgument
from shared.frame.jobs import every
from shared.frame.runtime import Runtime, runtime
from shared.frame.tool import one_item, tool
from shared.models.consensus import Proposal, ProposalKind, ProposalList, ProposeResult, SandboxResult, VoteResult
from shared.rules import visible
from shared.rules.clock import iso
from shared.rules.timeparse import parse_when
from shared.rules.voting import Rule
from shared.store.proposals import ballot as store
from shared.store.proposals import evidence, queries
from shared.store.proposals import settle as closing

MIN_DEADLINE = 10.0
MAX_DEADLINE = 30 * 86400.0
DEFAULT_OPTIONS = ("approve", "reject")

INSTRUCTIONS = """\
Decisions: consensus_propose puts a question to the team (options, a rule — majority, two_thirds or
unanimous — a quorum, a deadline). By default the agents present now are the electors; each gets a
"vote requested" notice by mail. consensus_list() shows open proposals awaiting your vote first;
consensus_list(proposal_id=N) shows the tally, who voted what and why, and the outcome. consensus_vote casts
or changes your vote (or abstain) while the proposal is open. A proposal closes by itself as soon as the
remaining votes cannot change the outcome, when everyone has voted, or at its deadline.
Improvements to how the team works: consensus_propose(kind="improvement", change, why, expected_effect), then
attach evidence with sandbox_test, which runs an allowed test command in a temporary copy of the project.
"""

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ProposalId = Annotated[int, Field(ge=1, le=2**62)]
Option = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
AgentName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(one_item)
]
OptionsArg = Annotated[list[Option], Field(min_length=2, max_length=10)]
RuleArg = Annotated[
    Rule,
    Field(),
]
QuorumArg = Annotated[
    int | None,
    Field(ge=1, le=store.MAX_ELECTORATE, description="default: most electors"),
]
DeadlineArg = Annotated[str, Field(max_length=40, description="delay or ISO time")]
VotersArg = Annotated[
    list[AgentName],
    Field(max_length=store.MAX_ELECTORATE, description="default: agents present now"),
]
RoleArg = Annotated[Literal["admin", "worker"] | None, Field()]


def deadline_from(value: str, now: float) -> float:
    moment = parse_when(value, field="deadline", now=now, max_ahead=MAX_DEADLINE)
    if moment - now < MIN_DEADLINE:
        raise InvalidArgument(
            f"deadline={value!r} is {'in the past' if moment <= now else 'too soon'}; give electors at least "
            f'{MIN_DEADLINE:g} seconds, e.g. deadline="30m"'
        )
    return moment


async def close_due_once(rt: Runtime) -> None:
    """One round of the background closing: close proposals whose deadline passed, so the outcome is
    recorded (and the electors told, in notices signed like any other) even if nobody looks."""
    await closing.close_due(rt.db, rt.actor())


CLOSING = every(lambda rt: max(rt.settings.presence_timeout / 2, 0.5), close_due_once, what="closing due proposals")


def _how_to_vote(p: Proposal) -> str:
    return f'consensus_vote(proposal_id={p.id}, choice="{p.options[0]}", rationale="…")'


def _next_after_propose(p: Proposal, sandbox_on: bool) -> str:
    step = (
        f"Proposal {p.id} is open until {p.deadline}; {len(p.electors)} electors were asked to vote "
        f"({', '.join(p.electors)}), quorum {p.quorum}, rule {p.rule}. "
    )
    if p.awaiting_your_vote:
        step += f"You are an elector: vote with {_how_to_vote(p)}. "
    if p.kind == "improvement" and sandbox_on:
        step += f'Attach test evidence with sandbox_test(proposal_id={p.id}, command="pytest -q"). '
    elif p.kind == "improvement":
        step += "sandbox_test (test evidence) is off on this server; its error says how to turn it on. "
    return step + f"Follow it with consensus_list(proposal_id={p.id})."


def tally_line(p: Proposal) -> str:
    """'approve 2, reject 1, abstain 0; 3 of 4 voted, quorum 3'."""
    counts = ", ".join(f"{o.option} {o.votes}" for o in p.tally.options)
    return f"{counts}, abstain {p.tally.abstain}; {p.tally.cast} of {p.tally.electorate} voted, quorum {p.quorum}"


def _next_after_vote(p: Proposal, closed_now: bool) -> str:
    if p.status != "open":
        outcome = f" ({p.outcome})" if p.outcome else ""
        lead = "Your vote settled it" if closed_now else "It is closed"
        return f"{lead}: proposal {p.id} {p.status}{outcome}. {p.outcome_reason}."
    waiting = f"Waiting for: {', '.join(p.not_voted)}. " if p.not_voted else ""
    return f"Recorded. {waiting}Open until {p.deadline} or until the result cannot change; you may change your vote."


async def _propose(rt: Runtime, me: Actor, spec: store.NewProposal) -> ProposeResult:
    pid, notified = await store.propose(rt.db, spec, me)
    proposal = await queries.get(rt.db, pid, me)
    sandbox_on = bool(rt.settings.sandbox_allow and rt.settings.sandbox_root)
    return ProposeResult(proposal=proposal, notified=notified, next_step=_next_after_propose(proposal, sandbox_on))


@tool(read_only=False, title="Put a question to the team")
async def consensus_propose(
    title: Annotated[Text, Field(max_length=200)],
    ctx: Context[Any, Any],
    description: Annotated[str, Field(max_length=10_000)] = "",
    options: OptionsArg = ["approve", "reject"],  # noqa: B006 - pydantic copies defaults
    rule: RuleArg = "majority",
    quorum: QuorumArg = None,
    deadline: DeadlineArg = "24h",
    voters: VotersArg = [],  # noqa: B006
    role: RoleArg = None,
    kind: ProposalKind = "decision",
    change: Annotated[str, Field(max_length=10_000)] = "",
    why: Annotated[str, Field(max_length=10_000)] = "",
    expected_effect: Annotated[str, Field(max_length=5_000)] = "",
) -> ProposeResult:
    """Ask the team to decide by vote; the electors (agents present now, voters, or a role) are
    notified. Closes itself as passed, rejected or failed once settled or at the deadline. kind="improvement"
    (change, why, expected_effect): a change to how the team works, approve/reject; sandbox_test adds evidence."""
    rt = runtime(ctx)
    me = await rt.writer()
    details = {"change": change.strip(), "why": why.strip(), "expected_effect": expected_effect.strip()}
    if kind == "decision":
        given = [name for name, value in details.items() if not visible.shows_nothing(value)]
        if given:
            verb = "belongs" if len(given) == 1 else "belong"
            raise InvalidArgument(f'{", ".join(given)} {verb} to an improvement; add kind="improvement"')
        spec = store.NewProposal(
            title=title,
            description=description,
            options=tuple(options),
            rule=rule,
            quorum=quorum,
            deadline=deadline_from(deadline, me.now),
            voters=tuple(voters),
            role=role,
        )
        return await _propose(rt, me, spec)
    missing = [name for name, value in details.items() if visible.shows_nothing(value)]
    if missing:
        raise InvalidArgument(
            f"an improvement needs {', '.join(missing)}: what to change, why, and the expected effect"
        )
    if tuple(options) != DEFAULT_OPTIONS:
        raise InvalidArgument("an improvement is voted approve/reject; leave options out")
    spec = store.NewProposal(
        kind="improvement",
        title=title,
        description=description.strip() or details["change"],
        options=DEFAULT_OPTIONS,
        rule=rule,
        quorum=quorum,
        deadline=deadline_from(deadline, me.now),
        voters=tuple(voters),
        role=role,
        details=details,
    )
    return await _propose(rt, me, spec)


@tool(read_only=False, title="Propose an improvement to how the team works")
async def improvement_propose(
    title: Annotated[Text, Field(max_length=200)],
    change: Annotated[Text, Field(max_length=10_000)],
    why: Annotated[Text, Field(max_length=10_000)],
    expected_effect: Annotated[Text, Field(max_length=5_000)],
    ctx: Context[Any, Any],
    rule: RuleArg = "majority",
    quorum: QuorumArg = None,
    deadline: DeadlineArg = "24h",
    voters: VotersArg = [],  # noqa: B006
    role: RoleArg = None,
) -> ProposeResult:
    """The same as consensus_propose(kind="improvement"); kept callable, not listed (issue 14 merged it)."""
    return await consensus_propose(
        title,
        ctx,
        rule=rule,
        quorum=quorum,
        deadline=deadline,
        voters=voters,
        role=role,
        kind="improvement",
        change=change,
        why=why,
        expected_effect=expected_effect,
    )


@tool(read_only=False, idempotent=True, title="Vote on a proposal")
async def consensus_vote(
    proposal_id: ProposalId,
    choice: Annotated[str, Field(max_length=80, description="an option or 'abstain'")],
    ctx: Context[Any, Any],
    rationale: Annotated[str | None, Field(max_length=2_000)] = None,
) -> VoteResult:
    """Cast or change your vote on an open proposal: an option, or 'abstain' (counts for the
    quorum only). Returns the tally line and whether your vote settled it."""
    rt = runtime(ctx)
    me = await rt.writer()
    cast = await store.vote(rt.db, proposal_id, choice, (rationale or "").strip() or None, me)
    proposal = await queries.get(rt.db, proposal_id, me)
    closed_now = cast.closed is not None
    return VoteResult(
        proposal_id=proposal.id,
        status=proposal.status,
        outcome=proposal.outcome,
        tally=tally_line(proposal),
        your_vote=cast.choice,
        changed=cast.changed,
        closed_now=closed_now,
        next_step=_next_after_vote(proposal, closed_now),
    )


@tool(read_only=True, idempotent=True, title="List proposals or show one")
async def consensus_list(
    ctx: Context[Any, Any],
    proposal_id: Annotated[int | None, Field(ge=1, le=2**62)] = None,
    status: Annotated[Literal["open", "closed", "all"] | None, Field(description="default: open")] = None,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
) -> ProposalList:
    """Proposals, those awaiting your vote first; proposal_id shows one in full: tally, votes with
    reasons, evidence, outcome."""
    rt = runtime(ctx)
    me = rt.actor()
    if proposal_id is not None:  # with status or limit, refused by the argument check (MODES, shared/frame/tool.py)
        await closing.settle_if_due(rt.db, proposal_id, me)
        p = await queries.get(rt.db, proposal_id, me)
        if p.awaiting_your_vote:
            step = f"It awaits your vote: {_how_to_vote(p)}."
        elif p.status == "open":
            step = f"It is open until {p.deadline}; {p.tally.cast} of {p.tally.electorate} electors have voted."
        else:
            step = f"It closed at {p.closed_at} as {p.status}{f' ({p.outcome})' if p.outcome else ''}."
        return ProposalList(proposal=p, proposals=[], next_step=step)
    which = status or "open"
    await closing.close_due(rt.db, me)
    found = await queries.summaries(rt.db, me, which, limit)
    awaiting = [p.id for p in found if p.awaiting_your_vote]
    if awaiting:
        step = f"Proposals {awaiting} await your vote; read one with consensus_list(proposal_id={awaiting[0]})."
    elif found:
        step = "Nothing awaits your vote. consensus_list(proposal_id=N) shows a proposal in full."
    else:
        step = f"No {'' if which == 'all' else which + ' '}proposals. Ask the team something with consensus_propose."
    return ProposalList(proposal=None, proposals=found, next_step=step)


@tool(read_only=False, title="Test an improvement in a sandbox")
async def sandbox_test(
    proposal_id: ProposalId,
    command: Annotated[str, Field(min_length=1, max_length=2_000)],
    ctx: Context[Any, Any],
    directory: Annotated[str, Field(max_length=500)] = ".",
    timeout_seconds: Annotated[float | None, Field(ge=1, le=86_400)] = None,
) -> SandboxResult:
    """Run an allowed test command (no shell; relative paths) for an improvement in a confined,
    throwaway copy of the project, and attach the result as evidence. Returns exit code, duration and
    output tail."""
    from shared import sandbox  # the sandbox (and what it imports) loads on the first test, not at start-up

    rt = runtime(ctx)
    me = await rt.writer()
    box = sandbox.Sandbox.from_settings(rt.settings)
    box.check_on()
    if timeout_seconds is not None and timeout_seconds > box.timeout:
        raise InvalidArgument(
            f"timeout_seconds={timeout_seconds:g} is above this server's limit of {box.timeout:g} s "
            "(ROUNDTABLE_SANDBOX_TIMEOUT); use a smaller value or leave it out"
        )
    await evidence.target(rt.db, proposal_id)
    run = await sandbox.run(box, command, directory or ".", time_limit=timeout_seconds)
    who = me.at(rt.now())  # the run took its time: the evidence is recorded when it ended
    evidence_id = await evidence.attach(rt.db, proposal_id, run, who)
    proposal = await queries.get(rt.db, proposal_id, who)
    attached = next(e for e in proposal.evidence if e.id == evidence_id)
    limit = timeout_seconds or box.timeout
    if run.timed_out:
        summary = f"stopped: {run.command} ran past its {limit:g} s time limit and was killed"
    else:
        summary = f"{run.command} exited with code {run.exit_code} after {run.duration:.1f} s"
    if run.skipped:
        summary += f"; left out of the copy (symlinks leading outside it): {', '.join(run.skipped[:10])}"
    return SandboxResult(
        evidence=attached,
        passed=run.exit_code == 0,
        summary=summary,
        next_step=f"The result is attached to proposal {proposal_id} (at {iso(who.now)}); electors see it in "
        f"consensus_list(proposal_id={proposal_id}).",
    )


TOOLS = (consensus_propose, improvement_propose, consensus_vote, consensus_list, sandbox_test)
