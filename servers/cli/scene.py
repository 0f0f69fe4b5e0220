"""The demo's scene: acts played by real agents through real servers, each step narrated in one line and
checked against the structured result, then the final board.

An act is an async function of the Scene; `needs` names the server kinds it uses, so a build without the
knowledge or monitoring server still plays everything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from servers.cli import scene_more
from servers.cli.render import mark, paint, table

if TYPE_CHECKING:
    from servers.cli.demo import Agent, Server

WAIT_SECONDS = 10
STATUSES = ["open", "claimed", "blocked", "done", "failed", "cancelled"]


class StepFailed(Exception):
    """A step's result did not say what its narration claims."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"expected {expected}, got {got}")
        self.expected, self.got = expected, got


@dataclass
class Scene:
    """The cast, what the scene has made so far (task ids, who finished what), and the narration."""

    cast: dict[str, Agent]
    kinds: Sequence[str]
    out: TextIO
    shared_db: bool = False
    db: Path = Path()
    """The database the scene plays on (the channel act runs the Claude Code hook on it)."""
    number: int = 0
    tasks: dict[str, int] = field(default_factory=dict)
    done_by: dict[int, str] = field(default_factory=dict)
    proposal: int | None = None
    last_server: Server | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def dim(self, text: str) -> str:
        return paint(text, "dim", self.out)

    def step(self, who: str, what: str, tool: str) -> None:
        """Narrate the next step: who does what, in plain words, and the tool it calls."""
        self.number += 1
        self._print(f"{self.number:>2}. {paint(who.ljust(7), 'cyan', self.out)} → {what}  {self.dim('[' + tool + ']')}")

    def also(self, who: str, what: str, tool: str) -> None:
        """A second actor in the same step (e.g. one waits while the other sends)."""
        self._print(f"    {paint(who.ljust(7), 'cyan', self.out)} → {what}  {self.dim('[' + tool + ']')}")

    def check(self, ok: bool, shows: str, *, expected: str, got: object) -> None:
        """Print ✓ and what the result shows, or stop the scene with what was expected and what came."""
        if not ok:
            raise StepFailed(expected, str(got))
        self._print(f"    {mark(True, self.out)} {shows}")

    async def call(self, who: str, tool: str, **arguments: Any) -> Any:
        """A tool call that must succeed; its structured result."""
        agent = self.cast[who]
        self.last_server = agent.server_for(tool)
        ok, result = await agent.call(tool, arguments)
        if not ok:
            raise StepFailed(f"{tool} by {who} to succeed", f"an error: {result}")
        return result

    async def refused(self, who: str, tool: str, **arguments: Any) -> str:
        """A tool call that must be refused; the error text."""
        agent = self.cast[who]
        self.last_server = agent.server_for(tool)
        ok, result = await agent.call(tool, arguments)
        if ok:
            raise StepFailed(f"{tool} by {who} to be refused", f"a result: {result}")
        return str(result)


Act = Callable[[Scene], Awaitable[None]]


async def plan(s: Scene) -> None:
    s.step("planner", 'creates task "design the schema"', "task_create")
    first = (await s.call("planner", "task_create", title="design the schema", priority="high"))["task"]
    s.tasks["schema"] = first["id"]
    s.check(
        first["status"] == "open" and first["ready"],
        f"task {first['id']} is open and ready to claim",
        expected="an open, ready task",
        got=f"status {first['status']}, ready {first['ready']}",
    )
    later = (("migration", "write the migration", "schema"), ("review", "review the migration", "migration"))
    for key, title, after in later:
        s.step("planner", f'creates "{title}", to start after task {s.tasks[after]}', "task_create")
        made = (await s.call("planner", "task_create", title=title, depends_on=[s.tasks[after]]))["task"]
        s.tasks[key] = made["id"]
        s.check(
            made["waiting_on"] == [s.tasks[after]] and not made["ready"],
            f"task {made['id']} waits on task {s.tasks[after]}",
            expected=f"waiting_on [{s.tasks[after]}] and not ready",
            got=f"waiting_on {made['waiting_on']}, ready {made['ready']}",
        )


async def claim(s: Scene, who: str, key: str) -> None:
    """`who` asks for work and must get task `key` (on a shared database: asks for that task by id)."""
    want = s.tasks[key]
    s.step(who, f"claims task {want}" if s.shared_db else "asks for work", "task_claim")
    got = await s.call(who, "task_claim", **({"task_id": want} if s.shared_db else {}))
    task = got["task"] or {}
    s.check(
        got["claimed"] and task.get("id") == want and task.get("holder") == who,
        f'{who} holds task {want} "{task.get("title")}" until {task.get("lease_expires_at")}',
        expected=f"task {want} claimed by {who}",
        got=f"claimed {got['claimed']}, task {task.get('id')}, holder {task.get('holder')}",
    )


async def complete(s: Scene, who: str, key: str, result: str, unblocks: str | None) -> None:
    task_id = s.tasks[key]
    s.step(who, f"finishes task {task_id}: {result}", "task_complete")
    done = await s.call(who, "task_complete", task_id=task_id, result=result)
    ready = f"Now ready: tasks [{s.tasks[unblocks]}]" if unblocks else ""
    s.check(
        done["task"]["status"] == "done" and ready in done["next_step"],
        f"task {task_id} is done" + (f"; task {s.tasks[unblocks]} is ready now" if unblocks else ""),
        expected=f"task {task_id} done" + (f" and {ready!r}" if unblocks else ""),
        got=f"status {done['task']['status']}, {done['next_step']!r}",
    )
    s.done_by[task_id] = who


async def work(s: Scene) -> None:
    await claim(s, "ana", "schema")
    blocked = s.tasks["migration"]
    if s.shared_db:
        s.step("bo", f"asks for task {blocked}", "task_claim")
        why = await s.refused("bo", "task_claim", task_id=blocked)
        s.check(
            f"waits on tasks [{s.tasks['schema']}]" in why,
            f"refused: {why.split(';')[0]}",
            expected=f"a refusal saying it waits on task {s.tasks['schema']}",
            got=why,
        )
    else:
        s.step("bo", "asks for work", "task_claim")
        none = await s.call("bo", "task_claim")
        s.check(
            not none["claimed"] and "wait on dependencies" in none["next_step"],
            f"nothing is ready for bo: {none['next_step'].split('.')[0]}",
            expected="no claim, because the other tasks wait on dependencies",
            got=f"claimed {none['claimed']}: {none['next_step']!r}",
        )
    await complete(s, "ana", "schema", "tables for tasks, votes and mail", unblocks="migration")
    await claim(s, "bo", "migration")


async def mail(s: Scene) -> None:
    """ana offers a review and waits on that thread; bo's answer ends her wait. Waiting on the scene's own thread
    (not on any unread mail), the demo's agents read only their own scene on a file that already has a team."""
    migration = s.tasks["migration"]
    s.step("ana", f"tells bo she will review task {migration} when it is written", "message_send")
    offer = await s.call(
        "ana", "message_send", to=["bo"], subject=f"task {migration}", body="Send it to me for review when written."
    )
    thread = offer["message"]["id"]
    s.notes["thread"] = thread
    s.check(
        offer["delivered_to"] == ["bo"],
        f"message {thread} delivered to bo",
        expected="delivered to ['bo']",
        got=offer["delivered_to"],
    )
    s.step("ana", f"waits for an answer in that thread (up to {WAIT_SECONDS} s)", "message_wait")
    s.also("bo", f"answers: review task {migration}, acknowledgement required", "message_send")
    waited: dict[str, Any] = {}

    async def wait() -> None:
        waited.update(await s.call("ana", "message_wait", timeout=WAIT_SECONDS, thread=thread))

    with anyio.fail_after(WAIT_SECONDS + 5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.sleep(0.5)  # let ana's wait begin, so the narration shows a real wait
            await s.call("bo", "message_query", thread=thread)  # bo reads ana's offer
            sent = await s.call(
                "bo",
                "message_send",
                to=["ana"],
                subject=f"review task {migration}?",
                body=f"The migration (task {migration}) is written. Can you review it when you are free?",
                reply_to=thread,
                ack_required=True,
                ack_within="10m",
            )
    message = sent["message"]
    s.check(
        sent["delivered_to"] == ["ana"],
        f"message {message['id']} delivered to ana",
        expected="delivered to ['ana']",
        got=sent["delivered_to"],
    )
    arrived = [m for m in waited.get("messages", []) if m["id"] == message["id"]]
    s.check(
        waited.get("arrived") is True and bool(arrived) and arrived[0]["sender"] == "bo" and arrived[0]["ack_required"],
        f"ana's wait ended after {waited.get('waited_seconds')} s with bo's message: \"{message['subject']}\"",
        expected=f"ana's wait to return message {message['id']} from bo, ack required",
        got=f"arrived {waited.get('arrived')}, ids {[m['id'] for m in waited.get('messages', [])]}",
    )
    s.notes["review_request"] = message["id"]
    s.step("ana", f"acknowledges message {message['id']}", "message_acknowledge")
    acked = await s.call("ana", "message_acknowledge", ids=[message["id"]])
    s.check(
        acked["acknowledged"] == [message["id"]],
        f"message {message['id']} acknowledged",
        expected=f"acknowledged [{message['id']}]",
        got=acked,
    )
    s.step("bo", "checks who read and acknowledged what it sent", "message_query")
    mine = await s.call("bo", "message_query", sent=True, limit=5)
    ours = [m for m in mine["messages"] if m["id"] == message["id"]]
    receipt: dict[str, Any] = next((r for m in ours for r in m.get("receipts") or [] if r["agent"] == "ana"), {})
    s.check(
        bool(receipt.get("read_at")) and bool(receipt.get("acked_at")),
        f"ana read it and acknowledged it at {receipt.get('acked_at')}",
        expected="a receipt from ana with read_at and acked_at",
        got=receipt or "no receipt from ana",
    )


async def finish(s: Scene) -> None:
    await complete(s, "bo", "migration", "migration 0005 written and tested", unblocks="review")
    await claim(s, "ana", "review")
    await complete(s, "ana", "review", "reviewed: looks right", unblocks=None)


async def vote(s: Scene) -> None:
    electors = ["planner", "ana", "bo"]
    s.step("planner", 'asks the team "Ship on Friday?"', "consensus_propose")
    made = await s.call(
        "planner",
        "consensus_propose",
        title="Ship on Friday?",
        description="All three tasks are done and reviewed.",
        voters=electors,
        deadline="1h",
    )
    p = made["proposal"]
    s.proposal = p["id"]
    s.check(
        p["status"] == "open" and sorted(p["electors"]) == sorted(electors),
        f"proposal {p['id']} is open; electors {', '.join(p['electors'])}, quorum {p['quorum']}, rule {p['rule']}",
        expected=f"an open proposal with electors {electors}",
        got=f"status {p['status']}, electors {p['electors']}",
    )
    for who, closes in (("ana", False), ("bo", True)):
        s.step(who, "votes approve", "consensus_vote")
        cast = await s.call(
            who, "consensus_vote", proposal_id=p["id"], choice="approve", rationale="tested and reviewed"
        )
        if closes:
            s.check(
                cast["closed_now"] and cast["status"] == "passed" and cast["outcome"] == "approve",
                f"bo's vote settled it: {cast['status']} ({cast['outcome']}) — {cast['tally']}",
                expected="the proposal to close as passed (approve)",
                got=f"closed_now {cast['closed_now']}, status {cast['status']}, outcome {cast['outcome']}",
            )
        else:
            s.check(
                not cast["closed_now"] and cast["status"] == "open",
                f"{cast['tally']}; still open",
                expected="the proposal still open after one vote",
                got=f"closed_now {cast['closed_now']}, status {cast['status']}",
            )


@dataclass(frozen=True)
class Part:
    act: Act
    needs: tuple[str, ...] = ("coordination",)


SCENE: tuple[Part, ...] = (
    Part(plan),
    Part(work),
    Part(mail, ("messaging", "coordination")),
    Part(scene_more.channel, ("messaging",)),
    Part(finish),
    Part(vote),
    Part(scene_more.experience, ("knowledge", "messaging")),
    Part(scene_more.skill, ("knowledge",)),
    Part(scene_more.presence, ("monitoring",)),
)


async def perform(s: Scene, parts: Sequence[Part] | None = None) -> None:
    """Play the parts whose servers are present, then print the final board."""
    for part in parts if parts is not None else SCENE:
        if all(kind in s.kinds for kind in part.needs):
            await part.act(s)
    await board(s)


async def board(s: Scene) -> None:
    out = s.out
    print(file=out)
    print(paint("The board", "bold", out), file=out)
    if s.tasks and "coordination" in s.kinds:
        listed = await s.call("planner", "task_list", status=STATUSES, limit=100)
        ours = sorted((t for t in listed["tasks"] if t["id"] in s.tasks.values()), key=lambda t: t["id"])
        rows = [
            (
                t["id"],
                t["title"],
                t["status"],
                t["holder"] or s.done_by.get(t["id"], ""),
                ", ".join(map(str, t["depends_on"])) or "-",
            )
            for t in ours
        ]
        print(table(["task", "title", "status", "holder / done by", "depends on"], rows, out), file=out)
    if s.proposal is not None:
        shown = (await s.call("planner", "consensus_list", proposal_id=s.proposal))["proposal"]
        votes = ", ".join(f"{v['agent']} {v['choice']}" for v in shown["votes"])
        outcome = f"{shown['status']}" + (f" ({shown['outcome']})" if shown["outcome"] else "")
        print(f'\nproposal {shown["id"]} "{shown["title"]}": {outcome}; votes: {votes}', file=out)
    if "messaging" in s.kinds:
        counts: list[tuple[object, ...]] = []
        for who in s.cast:
            sent = await s.call(who, "message_query", sent=True, limit=100)
            got = await s.call(who, "message_query", unread_only=False, mark_read=False, limit=100)
            inbox: list[dict[str, Any]] = got["messages"]
            counts.append(
                (
                    who,
                    len(sent["messages"]),
                    len(inbox),
                    sum(m["kind"] == "system" for m in inbox),
                    sum(not m["read"] for m in inbox),
                    sum(m["acknowledged"] for m in inbox),
                )
            )
        headers = ["agent", "sent", "received", "system notices", "unread", "acknowledged"]
        print("\n" + table(headers, counts, out), file=out)
    await scene_more.board(s)
