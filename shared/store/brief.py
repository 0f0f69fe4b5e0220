"""One agent's situation in one snapshot, for the orientation call, the `roundtable://me` resource and the
Claude Code hooks: its claims with time left, tasks assigned to it, unread direct mail with system notices,
acknowledgements it owes, votes awaiting it, and the one thing to do next.

It reads across areas (tasks, mail, proposals) through their own SQL fragments (tasks.queries LAPSED and
READY, inbox.mine_ids), so "lapsed", "ready" and "mine" mean here what they mean everywhere.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shared.actor import Actor
from shared.db.tx import Tx
from shared.rules import counts
from shared.rules.clock import iso, relative
from shared.store.mail import dialect as mail_dialect
from shared.store.mail.mine import InboxFilter, mine_ids
from shared.store.tasks import dialect as task_dialect
from shared.store.tasks.states import EFFECTIVE_STATUS, LAPSED, ready

if TYPE_CHECKING:  # the models (pydantic) are imported where a Brief is built: the hook reads facts() without
    from shared.db.connection import Database
    from shared.models.brief import Brief

Facts = dict[str, Any]
"""A brief as plain data: the fields of shared.models.brief.Brief, lists of plain dicts."""

SHOWN = 5
"""At most this many of each list: the brief stays a few hundred tokens."""
SOON = 300.0
"""A claim whose lease ends within this many seconds is the next thing to see to."""


OWED = (
    "SELECT m.id FROM message_recipients r JOIN messages m ON m.id = r.message_id"
    " WHERE r.agent_id = :me AND m.ack_required = 1 AND r.acked_at IS NULL"
    " AND (m.expires_at IS NULL OR m.expires_at > :now) LIMIT :limit"
)
"""The ids of the messages `:me` owes an acknowledgement, at most :limit."""


def situation(tx: Tx, me: Actor) -> dict[str, list[int]]:
    """What `me` is held by, as ids (up to counts.CAP + 1 each): every claim, every acknowledgement owed. The Stop
    hook asks once per situation; the brief's lists show only the first few."""
    params = me.params(limit=counts.CAP + 1)
    held = tx.execute(
        f"SELECT t.id FROM tasks t WHERE t.holder = :me AND t.status = 'claimed' AND NOT {LAPSED} LIMIT :limit",
        params,
    )
    owed = tx.execute(OWED, params)
    return {"holding": sorted(int(r["id"]) for r in held), "owe_acks": sorted(int(r["id"]) for r in owed)}


async def of(db: Database, me: Actor) -> Brief:
    """`me`'s brief, read in one snapshot."""
    return await db.read(read, me)


def read(tx: Tx, me: Actor) -> Brief:
    """`me`'s brief as the tool and the resource return it."""
    from shared.models.brief import Brief

    return Brief.model_validate(facts(tx, me))


def facts(tx: Tx, me: Actor, *, mail_after: int = 0) -> Facts:
    """`me`'s brief as plain data (see Brief). `mail_after`: only mail with a higher id counts as unread and
    is listed (the UserPromptSubmit hook's "what is new since the last brief"); 0 for all."""
    params = me.params(shown=SHOWN, after=mail_after, limit=counts.CAP + 1)
    unread_ids = mine_ids(InboxFilter(), params, bounded=True, d=mail_dialect.of(tx))
    agent = tx.fetchone("SELECT name, role, capabilities FROM agents WHERE id = :me", params)
    name = str(agent["name"]) if agent else me.name
    role = str(agent["role"]) if agent else me.role
    held = tx.execute(
        "SELECT t.id, t.title, t.progress, t.lease_expires_at FROM tasks t"
        f" WHERE t.holder = :me AND t.status = 'claimed' AND NOT {LAPSED}"
        " ORDER BY t.lease_expires_at LIMIT :shown",
        params,
    )
    ending = [int(r["id"]) for r in held if r["lease_expires_at"] - me.now <= SOON]
    holding = [
        dict(
            id=r["id"],
            title=r["title"],
            progress=r["progress"],
            lease_ends_at=iso(r["lease_expires_at"]) or "",
            lease_ends=relative(r["lease_expires_at"], me.now) or "",
        )
        for r in held
    ]
    assigned = [
        dict(id=r["id"], title=r["title"], ready=bool(r["ready"]))
        for r in tx.execute(
            f"SELECT t.id, t.title, {ready(task_dialect.of(tx))} AS ready FROM tasks t"
            f" WHERE t.assignee = :me AND {EFFECTIVE_STATUS} = 'open' ORDER BY t.priority DESC, t.id LIMIT :shown",
            params,
        )
    ]
    ready_tasks = int(
        tx.scalar(
            "SELECT count(*) FROM (SELECT 1 FROM tasks t WHERE t.status IN ('open', 'claimed')"
            f" AND {ready(task_dialect.of(tx))} LIMIT :limit) AS s",
            params,
        )
    )
    unread = int(tx.scalar(f"SELECT count(*) FROM ({unread_ids}) AS s", params))
    mail = [
        dict(
            id=r["id"],
            sender=r["sender_name"],
            subject=r["subject"] or _first_line(r["body"]),
            about=f"{r['ref_type']} {r['ref_id']}" if r["ref_type"] else None,
            sent_at=iso(r["created_at"]) or "",
            sent=relative(r["created_at"], me.now) or "",
            ack_required=bool(r["ack_required"]),
        )
        for r in tx.execute(
            f"SELECT m.* FROM messages m WHERE m.id IN ({unread_ids}) AND m.kind IN ('direct', 'system')"
            " ORDER BY m.id LIMIT :shown",
            params,
        )
    ]
    owe_acks = int(tx.scalar(f"SELECT count(*) FROM ({OWED}) AS s", params))
    votes = [
        dict(
            id=r["id"],
            title=r["title"],
            options=json.loads(r["options"]),
            closes_at=iso(r["deadline"]) or "",
            closes=relative(r["deadline"], me.now) or "",
        )
        for r in tx.execute(
            "SELECT p.id, p.title, p.options, p.deadline FROM proposals p"
            " JOIN proposal_electors e ON e.proposal_id = p.id AND e.agent_id = :me"
            " WHERE p.status = 'open' AND p.deadline > :now"
            " AND NOT EXISTS (SELECT 1 FROM votes v WHERE v.proposal_id = p.id AND v.agent_id = :me)"
            " ORDER BY p.deadline LIMIT :shown",
            params,
        )
    ]
    brief = dict(
        you=f"{name}, {_article(role)} {role}",
        name=name,
        role=role,
        capabilities=json.loads(agent["capabilities"]) if agent else [],
        holding=holding,
        holding_count=len(holding)
        if len(holding) < SHOWN
        else int(
            tx.scalar(
                "SELECT count(*) FROM (SELECT 1 FROM tasks t"
                f" WHERE t.holder = :me AND t.status = 'claimed' AND NOT {LAPSED} LIMIT :limit) AS s",
                params,
            )
        ),
        assigned=assigned,
        ready_tasks=ready_tasks,
        unread=unread,
        mail=mail,
        owe_acks=owe_acks,
        votes=votes,
        next_action="",
    )
    brief["next_action"] = next_action(brief, ending)
    return brief


def next_action(b: Facts, ending_soon: list[int]) -> str:
    """The one thing to do now, most urgent first."""
    unread = b["unread"]
    if b["role"] == "observer":
        if unread:
            return (
                f"Read your {counts.shown(unread)} unread message(s) with message_query(mark_read=false);"
                " observers only look."
            )
        return "You are an observer: follow the team with agent_status and event_log; you cannot change shared state."
    ending = [t for t in b["holding"] if t["id"] in ending_soon]
    if ending:
        t = ending[0]
        return (
            f"The lease on task {t['id']} ends {t['lease_ends']}: extend it with task_update(task_id={t['id']}, "
            "extend_lease=...) or finish with task_complete."
        )
    notices = [m for m in b["mail"] if m["sender"] == "system"]
    if b["mail"]:
        first = notices[0] if notices else b["mail"][0]
        who, subject = first["sender"], first["subject"][:80]
        return f"Read your mail with message_query() ({counts.shown(unread)} unread; first: {who}: {subject})."
    if b["votes"]:
        v = b["votes"][0]
        return (
            f"Vote on proposal {v['id']} ({v['title']}) with consensus_vote(proposal_id={v['id']}, ...);"
            f" it closes {v['closes']}."
        )
    if b["owe_acks"]:
        owed = b["owe_acks"]
        return f"You owe {owed} acknowledgement(s): message_query(unread_only=false), then message_acknowledge."
    if b["holding"]:
        t = b["holding"][0]
        return f"Carry on with task {t['id']} ({t['title']}); report with task_update and finish with task_complete."
    ready = [t for t in b["assigned"] if t["ready"]]
    if ready:
        t = ready[0]
        return f"Claim task {t['id']} ({t['title']}), assigned to you: task_claim(task_id={t['id']})."
    if unread:
        return f"Read your {counts.shown(unread)} unread topic or broadcast message(s) with message_query()."
    if b["ready_tasks"]:
        return f"{b['ready_tasks']} task(s) are ready for you: take the best with task_claim()."
    return "Nothing waits for you: create work with task_create, or wait for mail with message_wait."


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _first_line(body: str) -> str:
    return body.strip().splitlines()[0][:80] if body.strip() else ""
