"""Knowledge entries: adding (with explicit supersede chains and duplicate warnings), reading one with its
history, and experience reports announced on the topic `knowledge.experience`.

Search lives in shared/store/knowledge/search.py. An entry is never edited: a correction is a new entry
that supersedes the old one, so the history stays readable. Each addition is one write transaction
(Database.write) at the author's time: the entry, its tags, its event and, for an experience, the
announcement, which commit together or not at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import get_args

from shared.actor import Actor
from shared.db.connection import Database, Row, Tx
from shared.errors import Conflict, InvalidArgument, NotFound
from shared.models.knowledge import AnyKind, Duplicate, Entry, EntryDetail, EntrySummary, Outcome
from shared.rules import visible
from shared.rules.clock import iso
from shared.store import events, quotas
from shared.store.knowledge import dialect
from shared.store.mail import send as messages

TITLE_MAX = 200
BODY_MAX = 64 * 1024
SOURCE_MAX = 500
LINK_MAX = 500
LINKS_MAX = 20
TAG_MAX = 50
TAGS_MAX = 20
KINDS: tuple[str, ...] = get_args(AnyKind)
EXPERIENCE_TOPIC = "knowledge.experience"
EXPERIENCE_FIELD_MAX = 8000
OUTCOMES: tuple[str, ...] = get_args(Outcome)
TAG = re.compile(r"[a-z0-9][a-z0-9._-]{0,49}")
FIELDS = (
    "k.id, k.kind, k.title, k.body, k.tags, k.source, k.links, k.data, k.created_at, k.supersedes,"
    " k.superseded_by, COALESCE(a.name, k.author_name) AS author"
)
FROM = "knowledge k LEFT JOIN agents a ON a.id = k.author_id"


@dataclass(frozen=True)
class NewEntry:
    title: str
    body: str
    kind: str = "note"
    tags: Sequence[str] = ()
    source: str | None = None
    links: Sequence[str] = ()
    supersedes: int | None = None
    data: dict[str, str] | None = field(default=None)


def title_key(title: str) -> str:
    return " ".join(title.lower().split())


def check_tags(tags: Sequence[str]) -> list[str]:
    if len(tags) > TAGS_MAX:
        raise InvalidArgument(f"{len(tags)} tags; the limit is {TAGS_MAX}")
    clean = []
    for tag in tags:
        value = tag.strip().lower()
        if not TAG.fullmatch(value):
            raise InvalidArgument(
                f"tag {tag!r} is not valid: use 1-{TAG_MAX} lower-case letters, digits, '.', '_' or '-', e.g. ci.flaky"
            )
        clean.append(value)
    return list(dict.fromkeys(clean))


def check_kind(kind: str) -> str:
    value = kind.strip().lower()
    if value not in KINDS:
        raise InvalidArgument(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    return value


def _check(new: NewEntry) -> tuple[str, str, list[str]]:
    title = " ".join(new.title.split())
    visible.require("title", title, "give the entry a short, specific title")
    if len(title) > TITLE_MAX:
        raise InvalidArgument(f"title is {len(title)} characters; the limit is {TITLE_MAX}")
    visible.require("body", new.body, "write what you learned")
    size = len(new.body.encode())
    if size > BODY_MAX:
        raise InvalidArgument(f"body is {size} bytes; the limit is {BODY_MAX} bytes (64 KiB). Split it into entries")
    if new.source is not None and len(new.source) > SOURCE_MAX:
        raise InvalidArgument(f"source is {len(new.source)} characters; the limit is {SOURCE_MAX}")
    if len(new.links) > LINKS_MAX:
        raise InvalidArgument(f"{len(new.links)} links; the limit is {LINKS_MAX}")
    if any(len(link) > LINK_MAX or not link.strip() for link in new.links):
        raise InvalidArgument(f"each link must be 1-{LINK_MAX} characters")
    return title, check_kind(new.kind), check_tags(new.tags)


def age(seconds: float) -> str:
    seconds = max(seconds, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def summary(row: Row, now: float) -> EntrySummary:
    return EntrySummary(
        id=row["id"],
        kind=row["kind"],
        title=row["title"],
        author=row["author"],
        tags=row["tags"].split(),
        created_at=iso(row["created_at"]) or "",
        age=age(now - row["created_at"]),
        superseded_by=row["superseded_by"],
    )


def to_entry(row: Row, now: float) -> Entry:
    return Entry(
        **summary(row, now).model_dump(),
        body=row["body"],
        source=row["source"],
        links=json.loads(row["links"]),
        supersedes=row["supersedes"],
        experience=json.loads(row["data"]) if row["data"] else None,
    )


def _insert(tx: Tx, author: Actor, new: NewEntry) -> tuple[Row, list[Duplicate], bool]:
    """Insert a checked entry at the author's time; returns its row, the current entries with its title, and
    whether it was already recorded: the same author adding the same current entry again (a retried call)
    gets that entry back and nothing new is written."""
    title, kind, tags = _check(new)
    key = title_key(title)
    now = author.now
    again = tx.fetchone(
        f"SELECT {FIELDS} FROM {FROM} WHERE k.author_id = ? AND k.title_key = ? AND k.kind = ? AND k.body = ?"
        f" AND {dialect.of(tx).same('k.supersedes')} AND k.superseded_by IS NULL ORDER BY k.id LIMIT 1",
        (author.id, key, kind, new.body, new.supersedes),
    )
    if again is not None:
        return again, [], True
    if new.supersedes is not None:
        old = tx.fetchone("SELECT id, superseded_by FROM knowledge WHERE id = ?", (new.supersedes,))
        if old is None:
            raise NotFound(f"supersedes={new.supersedes}: there is no entry with that id; find it with knowledge_query")
        if old["superseded_by"] is not None:
            raise Conflict(
                f"entry {new.supersedes} was already superseded by entry {old['superseded_by']}; "
                f"read that one (knowledge_get) and supersede it instead"
            )
    same_title = tx.execute(
        f"SELECT k.id, k.title, k.created_at, COALESCE(a.name, k.author_name) AS author FROM {FROM}"
        f" WHERE k.title_key = ? AND k.superseded_by IS NULL AND {dialect.of(tx).not_same('k.id')}"
        " ORDER BY k.id LIMIT 10",
        (key, new.supersedes),
    )
    stored = (
        title,
        new.body,
        " ".join(tags),
        new.source,
        json.dumps([link.strip() for link in new.links]),
        json.dumps(new.data) if new.data else None,
    )
    size = sum(len(value.encode()) for value in stored if value is not None)
    quotas.knowledge(tx, author, size)
    row = tx.fetchone(
        "INSERT INTO knowledge(kind, title, title_key, body, tags, source, links, data, author_id, author_name,"
        " created_at, supersedes, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (kind, title, key, *stored[1:], author.id, author.name, now, new.supersedes, size),
    )
    assert row is not None
    entry_id = int(row["id"])
    tx.executemany("INSERT INTO knowledge_tags(tag, entry_id) VALUES (?, ?)", [(t, entry_id) for t in tags])
    if new.supersedes is not None:
        tx.execute("UPDATE knowledge SET superseded_by = ? WHERE id = ?", (entry_id, new.supersedes))
    events.record(
        tx,
        now=now,
        agent_id=author.id,
        kind="knowledge.added",
        object_type="knowledge",
        object_id=entry_id,
        data={
            "kind": kind,
            "supersedes": new.supersedes,
            "possible_duplicates": [int(r["id"]) for r in same_title],
        },
    )
    added = tx.fetchone(f"SELECT {FIELDS} FROM {FROM} WHERE k.id = ?", (entry_id,))
    assert added is not None
    duplicates = [
        Duplicate(id=r["id"], title=r["title"], author=r["author"], created_at=iso(r["created_at"]) or "")
        for r in same_title
    ]
    return added, duplicates, False


async def add(db: Database, author: Actor, new: NewEntry) -> tuple[Entry, list[Duplicate], bool]:
    """Add an entry at the author's time (superseding `new.supersedes` if given), in one write transaction;
    returns it, the current entries with its title, and whether it was already recorded (a retry: nothing
    new written)."""
    if new.kind.strip().lower() == "experience":
        raise InvalidArgument("use experience_share for experience reports (it structures and announces them)")
    return await db.write(_add, author, new)


def _add(tx: Tx, author: Actor, new: NewEntry) -> tuple[Entry, list[Duplicate], bool]:
    row, duplicates, again = _insert(tx, author, new)
    if again and (other := _other_details(row, new)):  # a retry with other details: they were dropped
        raise Conflict(
            f"you recorded this title and body as entry {row['id']} with other {' and '.join(other)}; to change"
            f" them, add it again with supersedes={row['id']}"
        )
    return to_entry(row, author.now), duplicates, again


def _other_details(row: Row, new: NewEntry) -> list[str]:
    """What of `new` (tags, source, links) the entry it repeats holds otherwise."""
    other = []
    if sorted(row["tags"].split()) != sorted(check_tags(new.tags)):
        other.append("tags")
    if (row["source"] or None) != (new.source or None):
        other.append("source")
    if json.loads(row["links"]) != [link.strip() for link in new.links]:
        other.append("links")
    return other


@dataclass(frozen=True)
class Experience:
    title: str
    context: str
    tried: str
    outcome: str
    lesson: str
    tags: Sequence[str] = ()


def experience_body(e: Experience) -> str:
    return f"Context: {e.context}\n\nWhat was tried: {e.tried}\n\nOutcome: {e.outcome}\n\nLesson: {e.lesson}"


async def share_experience(db: Database, author: Actor, e: Experience) -> tuple[Entry, int | None, list[str]]:
    """Store an experience entry and announce it on `knowledge.experience`, both in one write transaction,
    at the author's time (the announcement signed with the author's team secret, if any).

    Returns the entry, the announcement's message id and the followers it reached; a retry of an experience
    already shared returns that entry, no new announcement (None) and nobody reached."""
    for name, value in (("context", e.context), ("tried", e.tried), ("lesson", e.lesson)):
        visible.require(name, value, "an experience needs context, what was tried and the lesson")
        if len(value) > EXPERIENCE_FIELD_MAX:
            raise InvalidArgument(f"{name} is {len(value)} characters; the limit is {EXPERIENCE_FIELD_MAX}")
    if e.outcome not in OUTCOMES:
        raise InvalidArgument(f"outcome {e.outcome!r} is not one of {', '.join(OUTCOMES)}")
    return await db.write(_share, author, e)


def _share(tx: Tx, author: Actor, e: Experience) -> tuple[Entry, int | None, list[str]]:
    data = {"context": e.context, "tried": e.tried, "outcome": e.outcome, "lesson": e.lesson}
    new = NewEntry(title=e.title, body=experience_body(e), kind="experience", tags=e.tags, data=data)
    row, _, again = _insert(tx, author, new)
    entry = to_entry(row, author.now)
    if again and "tags" in _other_details(row, new):  # a retry with other tags: they were dropped
        shared = ", ".join(entry.tags) or "none"
        raise Conflict(
            f"you shared this experience as entry {row['id']} with other tags ({shared}), announced then and kept as"
            " shared; share it with those tags, or give a new lesson its own title"
        )
    if again:
        return entry, None, []
    lesson = e.lesson if len(e.lesson) <= 2000 else e.lesson[:2000] + "…"
    note = messages.Outgoing(
        subject=f"Experience ({e.outcome}): {row['title']}"[: messages.SUBJECT_MAX],
        body=f"{author.name} shared experience {row['id']} ({e.outcome}).\n\nLesson: {lesson}\n\n"
        f"Read it all with knowledge_get(entry_id={row['id']}).",
    )
    messages.rate_check(tx, author)  # the announcement is a message the call causes
    message_id, reached = messages.post_to_topic(tx, author, EXPERIENCE_TOPIC, note)
    return entry, message_id, reached


async def get(db: Database, entry_id: int, *, now: float) -> EntryDetail:
    """One entry with its full body and its whole supersede chain (oldest first), read in one snapshot."""
    return await db.read(_detail, entry_id, now)


def _detail(tx: Tx, entry_id: int, now: float) -> EntryDetail:
    row = tx.fetchone(f"SELECT {FIELDS} FROM {FROM} WHERE k.id = ?", (entry_id,))
    if row is None:
        raise NotFound(f"there is no knowledge entry {entry_id}; find entries with knowledge_query")
    chain = tx.execute(
        "WITH RECURSIVE back(id, depth) AS (SELECT CAST(? AS BIGINT), 0 UNION ALL"
        " SELECT k.supersedes, depth + 1 FROM knowledge k JOIN back ON k.id = back.id"
        " WHERE k.supersedes IS NOT NULL AND depth < 1000),"
        " fwd(id, depth) AS (SELECT CAST(? AS BIGINT), 0 UNION ALL"
        " SELECT k.superseded_by, depth + 1 FROM knowledge k JOIN fwd ON k.id = fwd.id"
        " WHERE k.superseded_by IS NOT NULL AND depth < 1000)"
        f" SELECT {FIELDS} FROM {FROM} WHERE k.id IN (SELECT id FROM back UNION SELECT id FROM fwd) ORDER BY k.id",
        (entry_id, entry_id),
    )
    history = [summary(r, now) for r in chain]
    current = history[-1].id
    entry = to_entry(row, now)
    if current != entry_id:
        step = f"Entry {entry_id} is superseded; the current version is {current}: knowledge_get(entry_id={current})."
    else:
        step = f"To correct it, add a new entry with knowledge_add(..., supersedes={entry_id})."
    return EntryDetail(entry=entry, history=history, current=current, next_step=step)
