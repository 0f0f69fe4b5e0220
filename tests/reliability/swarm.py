"""A swarm of agents for the reliability tests: each agent is one stdio server process of one kind (its own
ROUNDTABLE_AGENT) doing random actions from its kind's action table, and every answer it gets is recorded
for the invariant checks in tests/reliability/invariants.py.

The knowledge and monitoring entries of the table run only when their servers exist.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
from mcp import Client

from shared.db.place import Place
from tests.stdio import server_params

WORDS = ["alpha", "build", "deploy", "cache", "schema", "retry", "lease", "index", "vote", "quorum", "queue", "wal"]
ALLOWED_ERRORS = {
    # A claim lapses when its holder missed heartbeats (a busy machine, or a killed process): the holder is
    # told so. Votes race with the close of their proposal. Both are answers, not failures.
    # After several hand-overs the error names the current holder instead, or (to a creator releasing a task
    # two holders on, which the one remembered previous holder no longer names) says it is already open.
    "task_complete": ("lapsed", "you do not hold", "is already", "only its holder"),
    "task_update": ("lapsed", "you do not hold", "cannot change", "only its holder", "is already open"),
    "consensus_vote": ("is closed", "too late"),
    # Proposals whose voters were killed stay open until their deadline, so a busy proposer can reach the
    # per-agent cap on open proposals; the cap's answer is the product working, not a failure.
    "consensus_propose": ("open proposals, the limit",),
    # Rescuing a killed agent's task races with the other claimers (only rescues name a task).
    "task_claim": ("is claimed by", "is done", "is failed"),
}


@dataclass
class Call:
    agent: str
    tool: str
    arguments: dict[str, Any]
    started: float
    ended: float
    is_error: bool
    text: str
    data: dict[str, Any]


@dataclass
class Team:
    """What the agents know about each other, and every answer any of them got."""

    names: list[str]
    coordinators: list[str]
    tasks: list[int] = field(default_factory=list)
    proposals: dict[int, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)


@dataclass
class Run:
    """The workload starts when every agent is up and stops at `until` (time.monotonic())."""

    start: anyio.Event = field(default_factory=anyio.Event)
    until: float = float("inf")


class Agent:
    def __init__(self, name: str, kind: str, team: Team, db: Place, env: dict[str, str], seed: int) -> None:
        self.name, self.kind, self.team, self.db, self.env = name, kind, team, db, env
        self.rng = random.Random(seed)
        self.client: Client | None = None
        self.held: set[int] = set()
        self.claims: list[int] = []  # tasks this agent's claims won, as the answers said
        self.seen: list[int] = []  # message ids returned to this agent by reads that mark read
        self.votes: list[tuple[int, str]] = []  # (proposal, choice) of every accepted vote
        self.kills: list[tuple[float, float]] = []  # (last answer before, killed at), wall clock
        self.last_answer = 0.0
        self.killed = False
        self.up = anyio.Event()
        self.turn = anyio.Lock()  # one call at a time per agent, the workload's or a rescue's
        self.revived = anyio.Event()
        self._schemas: dict[str, dict[str, Any]] = {}

    async def call(self, tool: str, arguments: dict[str, Any]) -> Call:
        assert self.client is not None
        started = time.time()
        result = await self.client.call_tool(tool, arguments)
        text = " ".join(getattr(c, "text", "") for c in result.content)
        data = result.structured_content or {}
        answer = Call(self.name, tool, arguments, started, time.time(), result.is_error, text, data)
        self.team.calls.append(answer)
        self.last_answer = answer.ended
        return answer

    def mark_killed(self) -> None:
        self.killed = True
        self.kills.append((self.last_answer, time.time()))
        self.revived = anyio.Event()

    async def live(self, run: Run) -> None:
        """Connect, wait for the whole swarm, then act at random until the run ends; after a kill, wait to
        be revived and carry on as the same agent."""
        while True:
            try:
                async with Client(server_params(self.kind, self.db, self.name, **self.env)) as client:
                    self.client = client
                    self.last_answer = time.time()
                    self._schemas = {t.name: t.input_schema for t in (await client.list_tools()).tools}
                    if self.kind == "messaging":
                        await self.call("message_subscribe", {"subscribe": ["swarm.*"]})
                    self.up.set()
                    await run.start.wait()
                    actions = ACTIONS[self.kind]
                    weights = [w for w, _ in actions]
                    while time.monotonic() < run.until:
                        (_, act), *_ = self.rng.choices(actions, weights)
                        async with self.turn:
                            await act(self)
                        await anyio.lowlevel.checkpoint()  # an action with nothing to do awaits nothing
                    return
            except Exception:
                if not self.killed:
                    raise
            finally:
                self.client = None
            await self.revived.wait()
            self.killed = False

    async def rescue(self, task: int) -> Call | None:
        """Claim a task a killed agent held, between two of this agent's own actions."""
        async with self.turn:
            if self.client is None or self.killed or task in self.held:
                return None
            got = await self.call("task_claim", {"task_id": task})
            if not got.is_error and got.data["claimed"]:
                self.held.add(task)
                self.claims.append(task)
            return got


# -- coordination -----------------------------------------------------------------------------------------
async def create_task(a: Agent) -> None:
    args: dict[str, Any] = {"title": f"{a.name} job", "priority": a.rng.choice(["low", "normal", "high", "urgent"])}
    if a.team.tasks and a.rng.random() < 0.25:
        args["depends_on"] = [a.rng.choice(a.team.tasks[-30:])]
    got = await a.call("task_create", args)
    if not got.is_error:
        a.team.tasks.append(got.data["task"]["id"])


async def claim_task(a: Agent) -> None:
    got = await a.call("task_claim", {})
    if not got.is_error and got.data["claimed"]:
        a.held.add(got.data["task"]["id"])
        a.claims.append(got.data["task"]["id"])


async def claim_two_at_once(a: Agent) -> None:
    """Parallel tool calls, as a model makes them: two claims in flight together never get one task."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(claim_task, a)
        tg.start_soon(claim_task, a)


async def complete_task(a: Agent) -> None:
    if a.held:
        task = a.rng.choice(sorted(a.held))
        a.held.discard(task)
        await a.call("task_complete", {"task_id": task, "success": a.rng.random() < 0.8, "result": a.name})


async def release_task(a: Agent) -> None:
    if a.held:
        task = a.rng.choice(sorted(a.held))
        a.held.discard(task)
        await a.call("task_update", {"task_id": task, "status": "open"})


async def propose(a: Agent) -> None:
    voters = sorted({a.name, *a.rng.sample(a.team.coordinators, min(3, len(a.team.coordinators)))})
    got = await a.call("consensus_propose", {"title": f"{a.name} asks", "voters": voters, "deadline": "12s"})
    if not got.is_error:
        a.team.proposals[got.data["proposal"]["id"]] = voters


async def vote(a: Agent) -> None:
    mine = [p for p, electors in a.team.proposals.items() if a.name in electors]
    if mine:
        proposal, choice = a.rng.choice(mine), a.rng.choice(["approve", "reject", "abstain"])
        got = await a.call("consensus_vote", {"proposal_id": proposal, "choice": choice})
        if not got.is_error:
            a.votes.append((proposal, choice))


# -- messaging --------------------------------------------------------------------------------------------
def body(a: Agent) -> str:
    return " ".join(a.rng.choices(WORDS, k=8))


async def send(a: Agent) -> None:
    to = a.rng.sample(a.team.names, a.rng.randint(1, 3))
    await a.call("message_send", {"to": to, "body": body(a), "ack_required": a.rng.random() < 0.3})


async def send_topic(a: Agent) -> None:
    await a.call("message_send", {"to": ["topic:swarm.news"], "body": body(a)})


async def broadcast(a: Agent) -> None:
    await a.call("message_broadcast", {"body": body(a)})


async def read(a: Agent) -> None:
    got = await a.call("message_query", {"limit": a.rng.choice([5, 20, 100])})
    if not got.is_error:
        a.seen += [m["id"] for m in got.data["messages"]]


async def read_two_at_once(a: Agent) -> None:
    """Two reads in flight together (parallel tool calls): each unread message goes to exactly one."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(read, a)
        tg.start_soon(wait, a)


async def wait(a: Agent) -> None:
    got = await a.call("message_wait", {"timeout": 1})
    if not got.is_error:
        a.seen += [m["id"] for m in got.data["messages"]]


async def acknowledge(a: Agent) -> None:
    if a.seen:
        await a.call("message_acknowledge", {"ids": a.rng.sample(a.seen, min(5, len(a.seen)))})


# -- knowledge (runs when servers.knowledge exists) -------------------------------------------------------
async def add_knowledge(a: Agent) -> None:
    token = f"swarm{a.name.replace('-', '')}n{len(a.team.notes)}"
    wanted = {"title": f"note {token}", "body": f"{token} {body(a)}", "kind": "note", "tags": ["swarm"]}
    got = await a.call("knowledge_add", wanted)
    if not got.is_error:
        a.team.notes.append(token)


async def query_knowledge(a: Agent) -> None:
    word = a.rng.choice(WORDS)
    await a.call("knowledge_query", {"text": word})


# -- monitoring (runs when servers.monitoring exists) -----------------------------------------------------
async def look_around(a: Agent) -> None:
    """One of the monitoring server's views that needs no arguments (who is here, health, metrics, events)."""
    views = [t for t, schema in sorted(a._schemas.items()) if not schema.get("required") and t != "agent_register"]
    if views:
        await a.call(a.rng.choice(views), {})


Action = Callable[[Agent], Awaitable[None]]
ACTIONS: dict[str, list[tuple[int, Action]]] = {
    "coordination": [
        (3, create_task),
        (3, claim_task),
        (1, claim_two_at_once),
        (3, complete_task),
        (1, release_task),
        (1, propose),
        (3, vote),
    ],
    "messaging": [
        (4, send),
        (1, send_topic),
        (1, broadcast),
        (3, read),
        (1, wait),
        (1, read_two_at_once),
        (2, acknowledge),
    ],
    "knowledge": [(2, add_knowledge), (3, query_knowledge)],
    "monitoring": [(1, look_around)],
}


def kinds_for(count: int) -> list[str]:
    """Server kinds for `count` agents, round robin over the four."""
    kinds = list(ACTIONS)
    return [kinds[i % len(kinds)] for i in range(count)]
