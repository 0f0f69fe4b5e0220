"""Skills: safe templates, definition checks, versions, argument validation, composition and its conflicts."""

from __future__ import annotations

import pytest

from shared.db.connection import Database
from shared.errors import Conflict, InvalidArgument, NotFound
from shared.models.knowledge import SkillParameter
from shared.rules import templates
from shared.store.knowledge import skills
from tests.agents import author
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]


def P(name: str, **kw: object) -> SkillParameter:
    return SkillParameter(name=name, **kw)  # type: ignore[arg-type]


def test_templates_substitute_names_and_keep_escaped_braces() -> None:
    assert templates.render("deploy {env} with {{flags}}", {"env": "prod"}) == "deploy prod with {flags}"
    assert templates.render("{a}{b}", {"a": "{b}", "b": "x"}) == "{b}x"  # values are never parsed again


@pytest.mark.parametrize("bad", ["{x.__class__}", "{x[0]}", "{x:>99}", "{x!r}", "{}", "{ x }", "open {", "close }"])
def test_templates_refuse_anything_but_plain_placeholders(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        templates.parse(bad)


async def test_steps_may_only_use_declared_parameters(db: Database, clock: FakeClock) -> None:
    ana = await author(db, clock)
    with pytest.raises(InvalidArgument, match=r"uses \{branch\}, which is not a declared parameter \(declared: env\)"):
        await skills.define(db, ana, "ship", "ship it", [P("env")], ["go to {env}", "merge {branch}"])
    with pytest.raises(InvalidArgument, match="declared twice"):
        await skills.define(db, ana, "ship", "ship it", [P("env"), P("env")], ["go"])
    with pytest.raises(InvalidArgument, match="skill name"):
        await skills.define(db, ana, "Ship It!", "ship it", [], ["go"])
    with pytest.raises(InvalidArgument, match="at least one step"):
        await skills.define(db, ana, "ship", "ship it", [], [])
    assert await db.read(skills.count) == 0


async def test_redefining_a_name_makes_a_new_version_and_keeps_the_old(db: Database, clock: FakeClock) -> None:
    ana = await author(db, clock)
    await skills.define(db, ana, "ship", "v1", [], ["old way"])
    second = await skills.define(db, ana, "ship", "v2", [], ["new way"])
    assert (second.version, second.versions) == (2, [1, 2])
    assert (await db.read(skills.get, "ship")).steps == ["new way"]
    assert (await db.read(skills.get, "ship", 1)).steps == ["old way"]
    with pytest.raises(NotFound, match=r"versions are \[1, 2\]"):
        await db.read(skills.get, "ship", 3)
    with pytest.raises(NotFound, match="known skills: ship"):
        await db.read(skills.get, "sail")
    assert [s.version for s in await db.read(skills.newest)] == [2]
    kinds = await db.fetchall("SELECT kind, object_id FROM events WHERE object_type = 'skill' ORDER BY id")
    assert [(r["kind"], r["object_id"]) for r in kinds] == [("skill.defined", "ship@1"), ("skill.defined", "ship@2")]


async def test_execute_refuses_unknown_and_missing_arguments_with_the_declared_list(
    db: Database, clock: FakeClock
) -> None:
    ana = await author(db, clock)
    with pytest.raises(InvalidArgument, match="'who' has a default, so it is optional; leave out required=true"):
        await skills.define(db, ana, "ship", "ship it", [P("who", default="ops", required=True)], ["by {who}"])
    skill = await skills.define(db, ana, "ship", "ship it", [P("env"), P("who", default="ops")], ["{env} by {who}"])
    assert [p.required for p in skill.parameters] == [True, False]  # a default makes it optional
    run = skills.execute(skill, {"env": "prod"})
    assert run.steps == ["prod by ops"] and run.arguments == {"env": "prod", "who": "ops"}
    assert "1. prod by ops" in run.text
    with pytest.raises(InvalidArgument, match=r"needs env; its parameters: env, who \(optional\)"):
        skills.execute(skill, {})
    with pytest.raises(InvalidArgument, match="has no parameter 'zone'"):
        skills.execute(skill, {"env": "x", "zone": "y"})
    with pytest.raises(InvalidArgument, match="limit is 10000"):
        skills.execute(skill, {"env": "x" * 10_001})


async def test_composition_concatenates_steps_and_merges_parameters(db: Database, clock: FakeClock) -> None:
    ana = await author(db, clock)
    await skills.define(db, ana, "build", "build", [P("branch")], ["checkout {branch}", "make"])
    params = [P("branch"), P("env", default="staging")]
    await skills.define(db, ana, "deploy", "deploy", params, ["ship {branch} to {env}"])
    both = await skills.compose(db, ana, "release", "build then deploy", ["build", "deploy@1"])
    assert both.composed_of == ["build@1", "deploy@1"]
    assert [p.name for p in both.parameters] == ["branch", "env"]
    assert skills.execute(both, {"branch": "main"}).steps == ["checkout main", "make", "ship main to staging"]
    await skills.define(db, ana, "build", "build v2", [P("branch")], ["something else"])
    assert (await db.read(skills.get, "release")).steps[0] == "checkout {branch}"  # a snapshot


async def test_composition_refuses_parameters_declared_differently(db: Database, clock: FakeClock) -> None:
    ana = await author(db, clock)
    await skills.define(db, ana, "a", "a", [P("env")], ["{env}"])
    await skills.define(db, ana, "b", "b", [P("env", default="prod")], ["{env}"])
    with pytest.raises(Conflict, match="parameter 'env' is declared differently by a@1"):
        await skills.compose(db, ana, "ab", "both", ["a", "b"])
    with pytest.raises(NotFound):
        await skills.compose(db, ana, "ac", "both", ["a", "c"])
    with pytest.raises(InvalidArgument, match="compose from 2"):
        await skills.compose(db, ana, "aa", "one", ["a"])
    assert await db.read(skills.count) == 2


def test_a_run_says_who_wrote_the_version_it_follows() -> None:
    from shared.models.knowledge import Skill
    from shared.store.knowledge import skills as skill_store

    skill = Skill(
        name="ship",
        version=3,
        description="ship it",
        parameters=[],
        steps=["push"],
        composed_of=None,
        author="mallory",
        created_at="2026-12-03T13:00:00Z",
        versions=[1, 2, 3],
    )
    run = skill_store.execute(skill, {})
    assert run.author == "mallory" and run.changed_at == "2026-12-03T13:00:00Z"
    assert "version 3 by mallory" in run.text
