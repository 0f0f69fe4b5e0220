"""Knowledge tools: add, query, get, and share an experience (over shared/store/knowledge entries.py and
search.py). Registered by build_server in servers/knowledge/__init__.py."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from shared.errors import InvalidArgument
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
    Field(max_length=knowledge.TAGS_MAX),
]
Title = Annotated[str, Field(min_length=1, max_length=knowledge.TITLE_MAX)]
Text = Annotated[str, Field(min_length=1, max_length=knowledge.EXPERIENCE_FIELD_MAX)]
EntryId = Annotated[int, Field(ge=1)]


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
    body: Annotated[str, Field(min_length=1, max_length=knowledge.BODY_MAX)],
    ctx: Context[Any, Any],
    kind: Annotated[Kind, Field()] = "note",
    tags: Tags = [],  # noqa: B006 - pydantic copies defaults
    source: Annotated[str | None, Field(max_length=knowledge.SOURCE_MAX)] = None,
    links: Annotated[
        list[Annotated[str, Field(max_length=knowledge.LINK_MAX)]],
        Field(max_length=knowledge.LINKS_MAX),
    ] = [],  # noqa: B006
    supersedes: Annotated[int | None, Field(ge=1, description="id of the entry this replaces")] = None,
) -> AddResult:
    """Record a fact, decision, how-to, note, post-mortem or reference for the team. To correct an
    entry, supersedes=<its id> (the old one stays as history). Returns the entry and same-title entries."""
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
        ),
    ] = "",
    kind: Annotated[AnyKind | None, Field()] = None,
    tags: Annotated[list[Annotated[str, Field(max_length=50)]], Field(max_length=5)] = [],  # noqa: B006
    author: Annotated[str | None, Field(max_length=100)] = None,
    max_age: Annotated[str | None, Field(max_length=40, description='e.g. "7d"')] = None,
    include_superseded: Annotated[bool, Field()] = False,
    raw: Annotated[bool, Field(description="text is FTS5 syntax")] = False,
    limit: Annotated[int, Field(ge=1, le=50)] = 10,
    cursor: Annotated[str | None, Field(max_length=10)] = None,
) -> QueryResult:
    """Search the team's knowledge, best first with snippets. Words match their other forms
    (lock: locked); if no entry has every word, entries with any are ranked and the answer says so. Empty
    text lists the newest. Read a hit with knowledge_get."""
    rt = runtime(ctx)
    if raw and not text.strip():  # with no text the newest are listed: raw would do nothing
        raise InvalidArgument("raw=true reads text as FTS5 syntax; give text, or leave raw out")
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
    """One entry in full, with its supersede history and current version's id."""
    rt = runtime(ctx)
    return await knowledge.get(rt.db, entry_id, now=rt.actor().now)


@tool(read_only=False, title="Share an experience")
async def experience_share(
    title: Title,
    context: Annotated[Text, Field()],
    tried: Annotated[Text, Field()],
    outcome: Annotated[Outcome, Field()],
    lesson: Annotated[Text, Field()],
    ctx: Context[Any, Any],
    tags: Tags = [],  # noqa: B006
) -> ExperienceResult:
    """Record a lesson (context, what was tried, outcome, lesson) as an experience entry,
    announced on topic knowledge.experience. For a plain fact, knowledge_add."""
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
