"""Skills: named, versioned procedures with declared parameters and steps (text templates).

Defining a name again makes a new version; the newest versions of each skill (ROUNDTABLE_SKILL_VERSIONS_KEPT,
shared/store/retention.py) are kept and can still be executed. A composed skill is a snapshot: the steps of
its parts, in order, with their parameters merged (a parameter declared differently by two parts is a
conflict, refused). Executing renders the steps (shared/rules/templates.py); it
runs no code.

The reads take a transaction, so a write can use them (compose reads its parts in the transaction that
saves it); outside a write they run through `Database.read`, e.g. `await db.read(get, "ship")`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from shared.actor import Actor
from shared.db.connection import Database, Row, Tx
from shared.errors import Conflict, InvalidArgument, NotFound
from shared.models.knowledge import Skill, SkillParameter, SkillRun
from shared.rules import quoting, templates, visible
from shared.rules.clock import iso
from shared.rules.quoting import like_contains
from shared.store import events, quotas
from shared.store.knowledge import dialect

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
DESCRIPTION_MAX = 1000
PARAMETERS_MAX = 20
STEPS_MAX = 50
STEP_MAX = 4000
ARGUMENT_MAX = 10_000
PARTS_MAX = 20
LIST_MAX = 500


def check_name(name: str) -> str:
    value = name.strip().lower()
    if not NAME.fullmatch(value):
        raise InvalidArgument(
            f"skill name {quoting.cut(repr(name))} is not valid: use 1-64 lower-case letters, digits, '-' or '_',"
            " e.g. release-checklist"
        )
    return value


def _check_parameters(parameters: Sequence[SkillParameter]) -> list[SkillParameter]:
    if len(parameters) > PARAMETERS_MAX:
        raise InvalidArgument(f"{len(parameters)} parameters; the limit is {PARAMETERS_MAX}")
    seen: set[str] = set()
    clean = []
    for p in parameters:
        if p.name in seen:
            raise InvalidArgument(f"parameter {p.name!r} is declared twice; declare each once")
        seen.add(p.name)
        # A parameter with a default is optional (`required` left at its default): the default fills it in.
        clean.append(p.model_copy(update={"required": p.required and p.default is None}))
    return clean


def _check_steps(steps: Sequence[str], declared: set[str]) -> list[str]:
    if not steps:
        raise InvalidArgument("a skill needs at least one step")
    if len(steps) > STEPS_MAX:
        raise InvalidArgument(f"{len(steps)} steps; the limit is {STEPS_MAX}")
    for number, step in enumerate(steps, 1):
        visible.require(f"step {number}", step, "write what to do in it, or leave it out")
        if len(step) > STEP_MAX:
            raise InvalidArgument(f"step {number} is {len(step)} characters; the limit is {STEP_MAX}")
        unknown = [p for p in templates.placeholders(step) if p not in declared]
        if unknown:
            raise InvalidArgument(
                f"step {number} uses {{{unknown[0]}}}, which is not a declared parameter "
                f"(declared: {', '.join(sorted(declared)) or 'none'}); declare it or write {{{{ }}}} for braces"
            )
    return list(steps)


def _check_description(description: str) -> str:
    value = description.strip()
    visible.require("description", value, "say what the skill achieves and when to use it")
    if len(value) > DESCRIPTION_MAX:
        raise InvalidArgument(f"description is {len(value)} characters; the limit is {DESCRIPTION_MAX}")
    return value


def _skill(row: Row, versions: list[int]) -> Skill:
    return Skill(
        name=row["name"],
        version=row["version"],
        description=row["description"],
        parameters=[SkillParameter(**p) for p in json.loads(row["parameters"])],
        steps=json.loads(row["steps"]),
        composed_of=json.loads(row["composed_of"]) if row["composed_of"] else None,
        author=row["author"],
        created_at=iso(row["created_at"]) or "",
        versions=versions,
    )


FIELDS = "s.*, COALESCE(a.name, s.author_name) AS author"
FROM = "skills s LEFT JOIN agents a ON a.id = s.author_id"


def _save(
    tx: Tx,
    author: Actor,
    name: str,
    description: str,
    parameters: list[SkillParameter],
    steps: list[str],
    composed_of: list[str] | None,
) -> Skill:
    """Insert the next version of `name` at the author's time; returns the saved skill."""
    quotas.skill_versions(tx, author)
    row = tx.fetchone(
        "INSERT INTO skills(name, version, description, parameters, steps, composed_of, author_id, author_name,"
        " created_at) SELECT ?, COALESCE(MAX(version), 0) + 1, ?, ?, ?, ?, ?, ?, ? FROM skills WHERE name = ?"
        " RETURNING version",
        (
            name,
            description,
            json.dumps([p.model_dump() for p in parameters]),
            json.dumps(steps),
            json.dumps(composed_of) if composed_of else None,
            author.id,
            author.name,
            author.now,
            name,
        ),
    )
    assert row is not None
    version = int(row["version"])
    events.record(
        tx,
        now=author.now,
        agent_id=author.id,
        kind="skill.composed" if composed_of else "skill.defined",
        object_type="skill",
        object_id=f"{name}@{version}",
        data={"composed_of": composed_of} if composed_of else {},
    )
    return get(tx, name, version)


async def define(
    db: Database,
    author: Actor,
    name: str,
    description: str,
    parameters: Sequence[SkillParameter],
    steps: Sequence[str],
) -> Skill:
    """Save a skill at the author's time (a new version if the name exists), in one write transaction;
    returns it."""
    name = check_name(name)
    description = _check_description(description)
    for p in parameters:  # required=true given beside a default was silently made optional
        if p.required and p.default is not None and "required" in p.model_fields_set:
            raise InvalidArgument(
                f"parameter {p.name!r} has a default, so it is optional; leave out required=true, or drop the default"
            )
    params = _check_parameters(parameters)
    clean_steps = _check_steps(steps, {p.name for p in params})
    return await db.write(_save, author, name, description, params, clean_steps, None)


def _split_ref(ref: str) -> tuple[str, int | None]:
    name, _, version = ref.strip().partition("@")
    if version and not (version.isascii() and version.isdigit()):
        raise InvalidArgument(f"{ref!r}: write a skill as 'name' (newest version) or 'name@3'")
    return check_name(name), int(version) if version else None


async def compose(db: Database, author: Actor, name: str, description: str, parts: Sequence[str]) -> Skill:
    """A new skill (or version) made of the steps of `parts` in order, their parameters merged; the parts
    are read and the result saved in one write transaction, at the author's time."""
    name = check_name(name)
    description = _check_description(description)
    if not 2 <= len(parts) <= PARTS_MAX:
        raise InvalidArgument(f"compose from 2 to {PARTS_MAX} skills, in the order to follow them")
    return await db.write(_compose, author, name, description, list(parts))


def _compose(tx: Tx, author: Actor, name: str, description: str, parts: list[str]) -> Skill:
    merged: dict[str, tuple[SkillParameter, str]] = {}
    steps: list[str] = []
    refs: list[str] = []
    for ref in parts:
        part = get(tx, *_split_ref(ref))
        refs.append(f"{part.name}@{part.version}")
        for p in part.parameters:
            if p.name not in merged:
                merged[p.name] = (p, refs[-1])
                continue
            first, where = merged[p.name]
            if (first.required, first.default) != (p.required, p.default):
                raise Conflict(
                    f"parameter {p.name!r} is declared differently by {where} (required={first.required}, "
                    f"default={first.default!r}) and {refs[-1]} (required={p.required}, default={p.default!r}); "
                    "define one of them again (skill_define) so they agree, then compose"
                )
        steps += part.steps
    params = _check_parameters([p for p, _ in merged.values()])
    clean_steps = _check_steps(steps, set(merged))
    return _save(tx, author, name, description, params, clean_steps, refs)


def get(tx: Tx, name: str, version: int | None = None) -> Skill:
    """A skill by name: the newest version, or the one asked for (outside a write: `db.read(get, …)`)."""
    name = check_name(name)
    rows = tx.execute(f"SELECT {FIELDS} FROM {FROM} WHERE s.name = ? ORDER BY s.version", (name,))
    if not rows:
        known = ", ".join(names(tx, limit=30)) or "none yet; define one with skill_define"
        raise NotFound(f"there is no skill named {name!r}; known skills: {known}")
    versions = [int(r["version"]) for r in rows]
    chosen = rows[-1] if version is None else next((r for r in rows if r["version"] == version), None)
    if chosen is None:
        raise NotFound(f"skill {name!r} has no version {version}; its versions are {versions}")
    return _skill(chosen, versions)


def names(tx: Tx, *, limit: int = LIST_MAX) -> list[str]:
    rows = tx.execute("SELECT DISTINCT name FROM skills ORDER BY name LIMIT ?", (limit,))
    return [str(r["name"]) for r in rows]


NEWEST = "s.version = (SELECT MAX(version) FROM skills m WHERE m.name = s.name)"
WORDS_MAX = 10


def _matching(text: str | None, d: dialect.Sqlite) -> tuple[str, list[str]]:
    """Every word (the first WORDS_MAX) must occur in the name or the description, in any case."""
    sql, params = "", []
    for word in (text or "").split()[:WORDS_MAX]:
        like = like_contains(word)
        sql += f" AND ({d.contains_any_case('s.name')} OR {d.contains_any_case('s.description')})"
        params += [like, like]
    return sql, params


def newest(tx: Tx, *, text: str | None = None, limit: int = LIST_MAX, offset: int = 0) -> list[Skill]:
    """The newest version of every skill, by name; `text` filters on name or description (plain words)."""
    d = dialect.of(tx)
    where, params = _matching(text, d)
    rows = tx.execute(
        f"SELECT {FIELDS}, (SELECT {d.json_array_of('version')} FROM (SELECT version FROM skills v"
        " WHERE v.name = s.name ORDER BY version) AS v) AS all_versions"
        f" FROM {FROM} WHERE {NEWEST}{where} ORDER BY s.name LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return [_skill(r, json.loads(r["all_versions"])) for r in rows]


def count(tx: Tx, *, text: str | None = None) -> int:
    """How many skills (names) there are, or match `text`."""
    where, params = _matching(text, dialect.of(tx))
    return int(tx.scalar(f"SELECT count(*) FROM skills s WHERE {NEWEST}{where}", params))


def page(tx: Tx, *, text: str | None = None, limit: int = LIST_MAX, offset: int = 0) -> tuple[list[Skill], int]:
    """One page of `newest` and the `count` beside it, for one read snapshot (`db.read(page, …)`)."""
    return newest(tx, text=text, limit=limit, offset=offset), count(tx, text=text)


async def fingerprint(db: Database) -> int:
    """Changes whenever a skill is defined or composed (for prompts list-changed notifications)."""
    return int(await db.scalar("SELECT COALESCE(MAX(id), 0) FROM skills"))  # skills are only ever added


def execute(skill: Skill, arguments: Mapping[str, str]) -> SkillRun:
    """Validate the arguments against the declared parameters and render the steps."""
    declared = {p.name: p for p in skill.parameters}
    listing = ", ".join(f"{p.name}{'' if p.required else ' (optional)'}" for p in skill.parameters) or "none"
    unknown = sorted(set(arguments) - set(declared))
    if unknown:
        named = quoting.cut(repr(unknown[0]))
        raise InvalidArgument(f"skill {skill.name!r} has no parameter {named}; its parameters: {listing}")
    missing = [p.name for p in skill.parameters if p.required and p.name not in arguments]
    if missing:
        raise InvalidArgument(f"skill {skill.name!r} needs {', '.join(missing)}; its parameters: {listing}")
    for key, value in arguments.items():
        if len(value) > ARGUMENT_MAX:
            raise InvalidArgument(f"argument {key!r} is {len(value)} characters; the limit is {ARGUMENT_MAX}")
    values = {name: arguments.get(name, p.default or "") for name, p in declared.items()}
    steps = [templates.render(step, values) for step in skill.steps]
    written = f"version {skill.version} by {skill.author}, {skill.created_at}"
    lines = [f"# {skill.name} ({written})", skill.description, ""]
    if values:
        lines += ["Arguments: " + ", ".join(f"{k}={v!r}" for k, v in values.items()), ""]
    lines += [f"{n}. {step}" for n, step in enumerate(steps, 1)]
    return SkillRun(
        name=skill.name,
        version=skill.version,
        author=skill.author,
        changed_at=skill.created_at,
        arguments=values,
        steps=steps,
        text="\n".join(lines),
        next_step="Follow the steps in order. Record what you learn with experience_share.",
    )
