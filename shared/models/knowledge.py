"""What knowledge and skill tools return."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal["success", "failure", "mixed"]
Kind = Literal["fact", "decision", "howto", "note", "postmortem", "reference"]
"""What knowledge_add records; experience entries come from experience_share."""
AnyKind = Literal[Kind, "experience"]


class EntrySummary(BaseModel):
    id: int
    kind: str
    title: str
    author: str
    tags: list[str]
    created_at: str
    age: str = Field(description="how long ago it was written, e.g. '3h' or '12d'")
    superseded_by: int | None = Field(description="the id of the entry that replaces this one, if any")


class Hit(EntrySummary):
    title_highlighted: str = Field(description="the title with matched words in **bold**")
    snippet: str = Field(description="the best-matching passage of the body, matched words in **bold**")
    score: float | None = Field(description="bm25 relevance (higher is better); null when no words were searched")


class Entry(EntrySummary):
    body: str
    source: str | None
    links: list[str]
    supersedes: int | None
    experience: dict[str, str] | None = Field(
        default=None, description="for kind 'experience': context, tried, outcome and lesson"
    )


class EntryDetail(BaseModel):
    entry: Entry
    history: list[EntrySummary] = Field(
        description="the whole supersede chain, oldest first (this entry included); one item when never superseded"
    )
    current: int = Field(description="the id of the newest entry of the chain: read that one")
    next_step: str


class Duplicate(BaseModel):
    id: int
    title: str
    author: str
    created_at: str


class AddResult(BaseModel):
    entry: Entry
    possible_duplicates: list[Duplicate] = Field(
        description="current entries with the same title: check whether yours contradicts or repeats them"
    )
    already_recorded: bool = Field(
        default=False, description="you had added exactly this entry before (e.g. a retry); nothing new was written"
    )
    next_step: str


class QueryResult(BaseModel):
    hits: list[Hit]
    total: int = Field(description="how many entries match in all (a lower bound when total_is_lower_bound)")
    total_is_lower_bound: bool = Field(description="true when counting stopped at the cap: at least `total` match")
    ranked_over: int = Field(
        description="how many matching entries were ranked; when fewer than total, the newest of them were ranked"
    )
    query: str = Field(description="the FTS5 query that ran (your words, quoted)")
    relaxed: bool = Field(
        default=False, description="no entry had all the words: entries with any of them were ranked instead"
    )
    next_cursor: str | None = Field(description="pass as cursor for the next page; null when this is the last")
    next_step: str


class ExperienceResult(BaseModel):
    entry: Entry
    announced_to: list[str] = Field(description="agents following the topic knowledge.experience")
    message_id: int | None = Field(description="the announcement; null for a retry of an experience already shared")
    already_recorded: bool = Field(
        default=False, description="you had shared exactly this before (e.g. a retry); nothing new was written"
    )
    next_step: str


class SkillParameter(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key (defualt=...) is refused, not dropped

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,39}$", description="used as {name} in the steps")
    description: str = Field(default="", max_length=500)
    required: bool = True
    default: str | None = Field(default=None, max_length=2000, description="used when the argument is omitted")


class Skill(BaseModel):
    name: str
    version: int
    description: str
    parameters: list[SkillParameter]
    steps: list[str] = Field(description="text templates; {param} is replaced by the argument, {{ and }} are braces")
    composed_of: list[str] | None = Field(description="'name@version' of the skills it was composed from")
    author: str
    created_at: str
    versions: list[int] = Field(description="every version of this name, oldest first")


class SkillSaved(BaseModel):
    skill: Skill
    next_step: str


class SkillList(BaseModel):
    skills: list[Skill]
    total: int = Field(description="how many skills match in all")
    next_cursor: str | None = Field(description="pass as cursor for the next page; null when this is the last")
    next_step: str


class SkillRun(BaseModel):
    name: str
    version: int
    author: str = Field(description="who wrote this version (every worker may add versions of any skill)")
    changed_at: str = Field(description="when this version was written")
    arguments: dict[str, str] = Field(description="the arguments used, defaults filled in")
    steps: list[str] = Field(description="the rendered steps, in order")
    text: str = Field(description="the whole procedure as one text to follow")
    next_step: str
