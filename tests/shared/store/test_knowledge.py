"""Knowledge entries and search: ranking, filters, supersede chains, duplicate warnings, hostile query text,
paging, the bounds on ranking and counting, size limits and the audit trail."""

from __future__ import annotations

import pytest

from shared.actor import Actor
from shared.db.connection import Database
from shared.errors import Conflict, InvalidArgument, NotFound
from shared.store.knowledge import dialect
from shared.store.knowledge import entries as knowledge
from shared.store.knowledge import search as knowledge_search
from shared.store.knowledge.entries import Experience, NewEntry
from shared.store.knowledge.search import Search
from shared.store.mail import send as messages
from tests.agents import author
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]

FILLER = " ".join(f"word{i}" for i in range(60))


async def add(db: Database, who: Actor, clock: FakeClock, title: str, body: str = "some body", **kw: object) -> int:
    entry, _, _ = await knowledge.add(db, who.at(clock()), NewEntry(title=title, body=body, **kw))  # type: ignore[arg-type]
    return entry.id


async def ids(db: Database, clock: FakeClock, **kw: object) -> list[int]:
    result = await knowledge_search.search(db, Search(**kw), now=clock())  # type: ignore[arg-type]
    return [h.id for h in result.hits]


async def test_a_title_hit_outranks_a_passing_mention_in_a_long_body(db: Database, clock: FakeClock) -> None:
    ana = await author(db, clock)
    mention = await add(db, ana, clock, "Release notes", f"{FILLER} vacuum {FILLER}")
    titled = await add(db, ana, clock, "Vacuum the database weekly", "run it on sundays")
    await add(db, ana, clock, "Unrelated", "nothing here")
    result = await knowledge_search.search(db, Search(text="vacuum"), now=clock())
    assert [h.id for h in result.hits] == [titled, mention]
    assert result.total == 2 and not result.total_is_lower_bound
    assert result.hits[0].title_highlighted == "**Vacuum** the database weekly"
    assert "**vacuum**" in result.hits[1].snippet
    assert result.hits[0].score is not None and result.hits[0].score > (result.hits[1].score or 0)


async def test_all_words_must_match_and_tags_are_searched(db: Database, clock: FakeClock) -> None:
    ana = await author(db, clock)
    both = await add(db, ana, clock, "Locks", "busy timeout and immediate transactions")
    await add(db, ana, clock, "Timeouts", "busy timeout only")
    tagged = await add(db, ana, clock, "Something", "body", tags=["sqlite.wal"])
    assert await ids(db, clock, text="busy immediate") == [both]
    assert await ids(db, clock, text="wal") == [tagged]


async def test_filters_by_kind_tags_author_and_age(db: Database, clock: FakeClock) -> None:
    ana, bo = await author(db, clock, "ana"), await author(db, clock, "bo")
    old = await add(db, ana, clock, "Old fact", "deploy notes", kind="fact", tags=["ops"])
    clock.advance(10 * 86400)
    decision = await add(
        db, bo, clock, "Deploy decision", "deploy on fridays", kind="decision", tags=["ops", "release"]
    )
    howto = await add(db, ana, clock, "Deploy howto", "deploy steps", kind="howto", tags=["release"])
    assert await ids(db, clock, text="deploy", kind="decision") == [decision]
    assert set(await ids(db, clock, text="deploy", tags=("release",))) == {decision, howto}
    assert await ids(db, clock, text="deploy", tags=("release", "ops")) == [decision]
    assert set(await ids(db, clock, text="deploy", author_id=ana.id)) == {old, howto}
    assert old not in await ids(db, clock, text="deploy", since=clock() - 86400)
    assert await ids(db, clock, kind="fact") == [old]  # no words: the newest entries that pass the filters
    with pytest.raises(InvalidArgument, match="kind 'rumour'"):
        await ids(db, clock, kind="rumour")


async def test_superseding_keeps_the_history_and_hides_the_old_entry(db: Database, clock: FakeClock) -> None:
    ana, bo = await author(db, clock, "ana"), await author(db, clock, "bo")
    first = await add(db, ana, clock, "Build command", "make build")
    second = await add(db, bo, clock, "Build command", "make all", supersedes=first)
    third = await add(db, ana, clock, "Build command v3", "just build", supersedes=second)
    assert await ids(db, clock, text="build") == [third]
    assert set(await ids(db, clock, text="build", include_superseded=True)) == {first, second, third}
    detail = await knowledge.get(db, first, now=clock())
    assert [h.id for h in detail.history] == [first, second, third]
    assert detail.current == third and detail.entry.superseded_by == second
    assert "current version is 3" in detail.next_step
    with pytest.raises(Conflict, match=f"already superseded by entry {second}"):
        await add(db, bo, clock, "Build command", "make", supersedes=first)
    with pytest.raises(NotFound):
        await add(db, bo, clock, "Build command", "make", supersedes=999)


async def test_a_same_title_entry_is_added_and_points_at_the_possible_duplicate(db: Database, clock: FakeClock) -> None:
    ana, bo = await author(db, clock, "ana"), await author(db, clock, "bo")
    original = await add(db, ana, clock, "Staging URL", "https://staging.example")
    entry, duplicates, _ = await knowledge.add(
        db, bo.at(clock()), NewEntry(title="  staging   url ", body="https://stg2")
    )
    assert [(d.id, d.author) for d in duplicates] == [(original, "ana")]
    assert entry.title == "staging url" and entry.superseded_by is None
    _, none, _ = await knowledge.add(
        db, bo.at(clock()), NewEntry(title="Staging URL", body="https://stg3", supersedes=original)
    )
    assert [d.id for d in none] == [entry.id]  # the superseded one is no longer a duplicate; bo's twin still is


async def test_adding_the_same_entry_again_returns_the_first_and_writes_nothing(db: Database, clock: FakeClock) -> None:
    ana, bo = await author(db, clock, "ana"), await author(db, clock, "bo")
    first, _, again = await knowledge.add(db, ana.at(clock()), NewEntry(title="Deploy", body="make deploy"))
    assert not again
    events_before = await db.scalar("SELECT count(*) FROM events")
    clock.advance(60)
    retry, duplicates, again = await knowledge.add(db, ana.at(clock()), NewEntry(title=" deploy ", body="make deploy"))
    assert again and retry.id == first.id and duplicates == []
    assert await db.scalar("SELECT count(*) FROM events") == events_before
    other, duplicates, again = await knowledge.add(db, bo.at(clock()), NewEntry(title="Deploy", body="make deploy"))
    assert not again and other.id != first.id and [d.id for d in duplicates] == [first.id]  # another author
    changed, _, again = await knowledge.add(db, ana.at(clock()), NewEntry(title="Deploy", body="make deploy-all"))
    assert not again and changed.id not in (first.id, other.id)
    assert await db.scalar("SELECT count(*) FROM knowledge") == 3


HOSTILE = ['"', '""', "'", "-x", "a:b", "title:x", "NEAR(a b)", "NEAR", "(((", ")", "a AND OR NOT", "*", "^", "", " "]


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_query_text_never_raises(db: Database, clock: FakeClock, text: str) -> None:
    ana = await author(db, clock)
    await add(db, ana, clock, "NEAR and far", "title x and a b")
    result = await knowledge_search.search(db, Search(text=text), now=clock())
    assert result.total >= 0


async def test_raw_syntax_is_opt_in_and_its_errors_name_the_fix(db: Database, clock: FakeClock) -> None:
    ana = await author(db, clock)
    one = await add(db, ana, clock, "Alpha", "first")
    two = await add(db, ana, clock, "Beta", "second")
    assert set(await ids(db, clock, text="alpha OR beta", raw=True)) == {one, two}
    plain = await knowledge_search.search(db, Search(text="alpha OR beta"), now=clock())
    assert plain.relaxed and plain.query == '"alpha" OR "beta"'  # plain words: none has alpha, or, beta: relaxed
    for bad in ["NEAR(", '"unbalanced', "nosuchcolumn:x", "AND"]:
        if db.engine == "postgresql":  # raw is websearch syntax there, which never fails: nothing matches
            assert await ids(db, clock, text=bad, raw=True) == []
            continue
        with pytest.raises(InvalidArgument, match="raw FTS5 query"):
            await ids(db, clock, text=bad, raw=True)


async def test_pages_cover_every_match_once_and_say_how_many_in_all(db: Database, clock: FakeClock) -> None:
    ana = await author(db, clock)
    made = {await add(db, ana, clock, f"Entry {i}", "common word") for i in range(25)}
    seen: list[int] = []
    offset = 0
    while True:
        page = await knowledge_search.search(db, Search(text="common", limit=10, offset=offset), now=clock())
        assert page.total == 25
        seen += [h.id for h in page.hits]
        if page.next_cursor is None:
            break
        offset = int(page.next_cursor)
    assert sorted(seen) == sorted(made) and len(seen) == 25


async def test_very_common_words_rank_a_bounded_candidate_set_and_say_so(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(knowledge_search, "RANK_CAP", 5)
    monkeypatch.setattr(knowledge_search, "COUNT_CAP", 8)
    ana = await author(db, clock)
    made = [await add(db, ana, clock, f"Entry {i}", "everywhere") for i in range(12)]
    result = await knowledge_search.search(db, Search(text="everywhere", limit=3), now=clock())
    assert result.ranked_over == 5 and result.total == 8 and result.total_is_lower_bound
    assert {h.id for h in result.hits} <= set(made[-5:])  # the newest candidates were ranked
    assert "only the newest 5" in result.next_step
    last = await knowledge_search.search(db, Search(text="everywhere", limit=3, offset=3), now=clock())
    assert len(last.hits) == 2 and last.next_cursor is None
    with pytest.raises(InvalidArgument, match="paging stops"):
        await knowledge_search.search(db, Search(text="everywhere", offset=5), now=clock())


async def test_a_word_held_by_many_entries_is_ranked_without_reading_them_all(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite bm25 weighs a word by reading every entry that holds it; past COMMON holders (estimated from
    the newest SAMPLE) the candidates are ranked by bm25's formula without that weight, with the same page,
    totals, highlights and paging. PostgreSQL's ts_rank_cd has no such weight and ranks as always."""
    monkeypatch.setattr(knowledge_search, "COMMON", 4)
    monkeypatch.setattr(dialect.Sqlite, "SAMPLE", 2)
    monkeypatch.setattr(knowledge_search, "RANK_CAP", 6)
    ana = await author(db, clock)
    mention = await add(db, ana, clock, "Release notes", f"{FILLER} vacuum {FILLER}")
    titled = await add(db, ana, clock, "Vacuum the database weekly", "run it on sundays")
    rest = [await add(db, ana, clock, f"Note {i}", f"vacuum then {FILLER}") for i in range(4)]
    if db.engine == "sqlite":
        assert await db.read(lambda tx: dialect.of(tx).holders(tx, ['"vacuum"', '"sundays"'])) == [6.0, 1.0]
    first = await knowledge_search.search(db, Search(text="vacuum", limit=3), now=clock())
    assert first.hits[0].id == titled and first.hits[0].title_highlighted == "**Vacuum** the database weekly"
    assert first.total == 6 and first.ranked_over == 6 and first.next_cursor == "3"
    scores = [h.score or 0 for h in first.hits]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    second = await knowledge_search.search(db, Search(text="vacuum", limit=3, offset=3), now=clock())
    assert {h.id for h in first.hits + second.hits} == {mention, titled, *rest} and second.next_cursor is None
    assert all("**vacuum**" in h.snippet for h in second.hits if h.id != titled)
    assert await ids(db, clock, text="vacuum sundays") == [titled]


async def test_size_limits_name_the_field_and_the_limit(db: Database, clock: FakeClock) -> None:
    ana = await author(db, clock)
    cases = [
        (NewEntry(title="x" * 201, body="b"), "title is 201 characters"),
        (NewEntry(title="t", body="b" * (64 * 1024 + 1)), "64 KiB"),
        (NewEntry(title="t", body="   "), "body is empty"),
        (NewEntry(title=" ", body="b"), "title is empty"),
        (NewEntry(title="t", body="b", tags=["Not A Tag"]), "tag 'Not A Tag'"),
        (NewEntry(title="t", body="b", source="s" * 501), "source is 501"),
        (NewEntry(title="t", body="b", links=["l"] * 21), "21 links"),
        (NewEntry(title="t", body="b", kind="experience"), "experience_share"),
    ]
    for new, message in cases:
        with pytest.raises(InvalidArgument, match=message):
            await knowledge.add(db, ana.at(clock()), new)
    with pytest.raises(InvalidArgument, match="text is 501"):
        await ids(db, clock, text="x" * 501)
    assert await db.scalar("SELECT count(*) FROM knowledge") == 0


async def test_every_addition_appends_an_event(db: Database, clock: FakeClock) -> None:
    ana = await author(db, clock)
    first = await add(db, ana, clock, "A", "b")
    await add(db, ana, clock, "A", "c", supersedes=first)
    rows = await db.fetchall("SELECT kind, object_id, data FROM events WHERE object_type = 'knowledge' ORDER BY id")
    assert [(r["kind"], r["object_id"]) for r in rows] == [("knowledge.added", "1"), ("knowledge.added", "2")]
    assert '"supersedes":1' in rows[1]["data"]


async def test_an_experience_is_stored_and_announced_in_one_transaction(db: Database, clock: FakeClock) -> None:
    ana, bo = await author(db, clock, "ana"), await author(db, clock, "bo")
    await messages.set_subscription(db, Actor(id=bo.id, name=bo.name, now=clock()), "knowledge.*", subscribe=True)
    e = Experience("Retry flaky CI", "CI fails 1 in 5", "retry twice", "success", "retry network tests only", ["ci"])
    entry, message_id, reached = await knowledge.share_experience(db, ana.at(clock()), e)
    assert entry.kind == "experience" and entry.experience and entry.experience["outcome"] == "success"
    assert reached == ["bo"]
    row = await db.fetchone("SELECT sender_name, kind, topic, body FROM messages WHERE id = ?", (message_id,))
    assert row is not None and (row["sender_name"], row["kind"], row["topic"]) == (
        "ana",
        "topic",
        "knowledge.experience",
    )
    assert f"knowledge_get(entry_id={entry.id})" in row["body"]
    with pytest.raises(InvalidArgument, match="lesson is empty"):
        await knowledge.share_experience(db, ana.at(clock()), Experience("t", "c", "t", "failure", " "))
    assert await db.scalar("SELECT count(*) FROM knowledge") == 1


def test_a_nul_character_in_a_quoted_search_is_refused_cleanly() -> None:
    from shared.errors import InvalidArgument
    from shared.rules import quoting

    with pytest.raises(InvalidArgument, match="NUL"):
        quoting.quote_words('"deploy\x00 steps"')


async def test_other_forms_of_a_word_are_found(db: Database, clock: FakeClock) -> None:
    ana = await author(db, clock)
    locked = await add(db, ana, clock, "The database was locked", "two writers held it during the deploy")
    migration = await add(db, ana, clock, "Migration of the events table", "copy in batches of 500")
    assert await ids(db, clock, text="lock") == [locked]
    assert await ids(db, clock, text="locking") == [locked]
    assert await ids(db, clock, text="migrating") == [migration]
    assert await ids(db, clock, text="migrate") == [migration]


async def test_a_plain_words_question_is_relaxed_to_any_word_and_says_so(db: Database, clock: FakeClock) -> None:
    ana = await author(db, clock)
    lesson = await add(db, ana, clock, "Busy timeouts under load", "set busy_timeout before migrations run")
    await add(db, ana, clock, "Lunch", "the canteen opens at noon")
    result = await knowledge_search.search(
        db, Search(text="what should I do when the migration gets a busy error?"), now=clock()
    )
    assert [h.id for h in result.hits] == [lesson] and result.relaxed
    assert result.next_step.startswith("No entry has all of your words: these have some of them")
    assert '"the"' not in result.query and " OR " in result.query
    strict = await knowledge_search.search(db, Search(text="busy migrations"), now=clock())
    assert [h.id for h in strict.hits] == [lesson] and not strict.relaxed
    assert not (await knowledge_search.search(db, Search(text="quantum entanglement"), now=clock())).hits
