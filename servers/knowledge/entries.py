"""Knowledge tools: add, query, get, and share an experience (over shared/store/knowledge entries.py and
search.py). Registered by build_server in servers/knowledge/__init__.py."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from shared.frame.runtime import runtime
from shared.frame.tool import tool
from shared.models.knowledge import AddResult, AnyKind, EntryDetail, ExperienceResult, Kind, Outcome, QueryResult
from shared.rules import cursor as cursors
from shared.rules.timeparse import parse_duration
from shared.store.knowledge import entries as knowledge
from shared.store.knowledge import search as knowledge_search
from shared.store.team import agents

Tags = Annotated[
    list[Annotated[str, Field(max_length=knowledge.TAG_MAX)]],
    Field(max_length=knowledge.TAGS_MAX, description="lower-case labels, e.g. ci, sqlite.locking"),
]
Title = Annotated[str, Field(min_length=1, max_length=knowledge.TITLE_MAX, description="short and specific")]
Text = Annotated[str, Field(min_length=1, max_length=knowledge.EXPERIENCE_FIELD_MAX)]
EntryId = Annotated[int, Field(ge=1, description="an entry id, as knowledge_query or knowledge_add returned it")]


def _next_for_add(result: AddResult) -> str:
    entry = result.entry
    if result.possible_duplicates:
        others = ", ".join(f"{d.id} ({d.author}: {d.title!r})" for d in result.possible_duplicates)
        return (
            f"Added as entry {entry.id}, but entries with the same title exist: {others}. Read them with "
            "knowledge_get; "
            f"if yours replaces one, add it again with supersedes=<its id> (then this one can be ignored), and if "
            "they disagree, say so in the body."
        )
    if entry.supersedes:
        return f"Entry {entry.id} supersedes entry {entry.supersedes}; searches now show only the new one."
    return f"Saved as entry {entry.id}; every agent can find it with knowledge_query."


@tool(read_only=False, title="Add knowledge")
async def knowledge_add(
    title: Title,
    body: Annotated[str, Field(min_length=1, max_length=knowledge.BODY_MAX, description="the content (≤ 64 KiB)")],
    ctx: Context[Any, Any],
    kind: Annotated[Kind, Field(description="what sort of knowledge it is")] = "note",
    tags: Tags = [],  # noqa: B006 - pydantic copies defaults
    source: Annotated[str | None, Field(max_length=knowledge.SOURCE_MAX, description="where it came from")] = None,
    links: Annotated[
        list[Annotated[str, Field(max_length=knowledge.LINK_MAX)]],
        Field(max_length=knowledge.LINKS_MAX, description="URLs, paths or 'task 12'"),
    ] = [],  # noqa: B006
    supersedes: Annotated[
        int | None, Field(ge=1, description="id of the entry this one replaces (it is kept as history)")
    ] = None,
) -> AddResult:
    """Record a fact, decision, how-to, note, post-mortem or reference for every agent to find.

    You are the author. To correct or update an entry, pass supersedes=<its id>: the old one is kept as
    history and hidden from searches. An entry with the same title as a current one is still added, and
    the answer lists those possible duplicates so you can supersede or reconcile them. Adding exactly the
    same entry again (a retry) returns the first one. Returns the saved entry with its id.
    """
    rt = runtime(ctx)
    new = knowledge.NewEntry(
        title=title, body=body, kind=kind, tags=tags, source=source, links=links, supersedes=supersedes
    )
    entry, duplicates, again = await knowledge.add(rt.db, await rt.writer(), new)
    result = AddResult(entry=entry, possible_duplicates=duplicates, already_recorded=again, next_step="")
    result.next_step = (
        f"You had already recorded this as entry {entry.id}; nothing new was written."
        if again
        else _next_for_add(result)
    )
    return result


@tool(read_only=True, title="Search knowledge")
async def knowledge_query(
    ctx: Context[Any, Any],
    text: Annotated[
        str,
        Field(
            max_length=knowledge_search.TEXT_MAX,
            description="words to find (all must match); empty lists the newest",
        ),
    ] = "",
    kind: Annotated[AnyKind | None, Field(description="only entries of this kind")] = None,
    tags: Annotated[
        list[Annotated[str, Field(max_length=50)]], Field(max_length=5, description="entries carrying all of these")
    ] = [],  # noqa: B006
    author: Annotated[str | None, Field(max_length=100, description="agent name")] = None,
    max_age: Annotated[str | None, Field(max_length=40, description='only entries newer than this, e.g. "7d"')] = None,
    include_superseded: Annotated[bool, Field(description="also show entries that were replaced")] = False,
    raw: Annotated[bool, Field(description='treat text as FTS5 query syntax (OR, NEAR, "phrases", prefix*)')] = False,
    limit: Annotated[int, Field(ge=1, le=50)] = 10,
    cursor: Annotated[str | None, Field(max_length=10, description="next_cursor from the previous page")] = None,
) -> QueryResult:
    """Search the team's knowledge by words (title, body and tags), best match first, with highlighted
    snippets; filter by kind, tags, author and age. Replaced (superseded) entries are hidden unless asked.

    Your words are searched as ordinary words — quotes, -, :, AND/OR/NEAR are never query syntax — unless
    raw=true. The
    result says how many matched in all; for very common words only the newest 1,000 matches are ranked
    and the result says so. Read a hit in full with knowledge_get.
    """
    rt = runtime(ctx)
    offset = cursors.offset(cursor, tool="knowledge_query")
    author_id = await agents.id_by_name(rt.db, author.strip()) if author and author.strip() else None
    now = rt.actor().now
    since = now - parse_duration(max_age, field="max_age", minimum=1, maximum=100 * 365 * 86400) if max_age else None
    search = knowledge_search.Search(
        text=text,
        raw=raw,
        kind=kind,
        tags=tuple(tags),
        author_id=author_id,
        since=since,
        include_superseded=include_superseded,
        limit=limit,
        offset=offset,
    )
    return await knowledge_search.search(rt.db, search, now=now)


@tool(read_only=True, title="Read a knowledge entry")
async def knowledge_get(entry_id: EntryId, ctx: Context[Any, Any]) -> EntryDetail:
    """One knowledge entry in full (body, source, links, experience details) with its supersede history,
    oldest first, and the id of its current version."""
    rt = runtime(ctx)
    return await knowledge.get(rt.db, entry_id, now=rt.actor().now)


@tool(read_only=False, title="Share an experience")
async def experience_share(
    title: Title,
    context: Annotated[Text, Field(description="the situation and goal")],
    tried: Annotated[Text, Field(description="what was tried")],
    outcome: Annotated[Outcome, Field(description="how it went")],
    lesson: Annotated[Text, Field(description="what others should do (or avoid) next time")],
    ctx: Context[Any, Any],
    tags: Tags = [],  # noqa: B006
) -> ExperienceResult:
    """Share a lesson from experience — context, what was tried, the outcome, the lesson — as a knowledge
    entry of kind 'experience', announced to agents following the topic 'knowledge.experience'
    (message_subscribe). Use it after something worked or failed in a way others can learn from. Returns
    the entry and the names the announcement reached."""
    rt = runtime(ctx)
    e = knowledge.Experience(title=title, context=context, tried=tried, outcome=outcome, lesson=lesson, tags=tags)
    entry, message_id, reached = await knowledge.share_experience(rt.db, await rt.writer(), e)
    if message_id is None:
        step = f"You had already shared this as entry {entry.id}; it was announced then, nothing new was written."
    else:
        step = f"Saved as entry {entry.id}" + (
            f" and announced to {', '.join(reached)}." if reached else "; nobody follows knowledge.experience yet."
        )
    return ExperienceResult(
        entry=entry,
        announced_to=reached,
        message_id=message_id,
        already_recorded=message_id is None,
        next_step=step,
    )


TOOLS = (knowledge_add, knowledge_query, knowledge_get, experience_share)
