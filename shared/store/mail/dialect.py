"""The SQLite-specific SQL of mail, named: full-text search, topic patterns, id lists, comparisons.

The mail store (inbox.py, send.py) builds its queries from these and writes everything else in plain
SQL, so another engine replaces this module, not the queries around it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable


def text_matches(message_id: str, query: str) -> str:
    """`message_id` is a message whose subject or body matches the FTS5 `query` (built by
    shared/rules/quoting.quote_words, never raw user text)."""
    return f"{message_id} IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH {query})"


def topic_matches(topic: str, pattern: str) -> str:
    """`topic` matches the topic pattern `pattern`, where '*' stands for any run of characters (topic
    names and patterns are checked by send.check_topic, so no other wildcard character can occur)."""
    return f"{topic} GLOB {pattern}"


def same_name(column: str, name: str) -> str:
    """`column` holds the name `name`, ignoring case (as agent names are compared everywhere)."""
    return f"{column} = {name} COLLATE NOCASE"


def differs(left: str, right: str) -> str:
    """`left` and `right` are not the same value, NULL counting as a value (NULL differs from 'x')."""
    return f"{left} IS NOT {right}"


def each_id(ids: str) -> str:
    """The rows (one `value` column) of the id list bound as `ids` (see `id_list`)."""
    return f"SELECT value FROM json_each({ids})"


def id_list(ids: Iterable[int]) -> str:
    """The value to bind for an `each_id` parameter."""
    return json.dumps(list(ids))


class _Postgres:
    """PostgreSQL's forms of the pieces above that differ (the rest are common: see `of`)."""

    @staticmethod
    def differs(left: str, right: str) -> str:
        return f"{left} IS DISTINCT FROM {right}"

    @staticmethod
    def text_matches(message_id: str, query: str) -> str:
        return f"{message_id} IN (SELECT id FROM messages WHERE search @@ websearch_to_tsquery('english', {query}))"

    @staticmethod
    def topic_matches(topic: str, pattern: str) -> str:
        like = f"replace(replace(replace(replace({pattern}, '\\', '\\\\'), '%', '\\%'), '_', '\\_'), '*', '%')"
        return f"{topic} LIKE {like} ESCAPE '\\'"

    @staticmethod
    def each_id(ids: str) -> str:
        return f"SELECT CAST(value AS BIGINT) AS value FROM json_array_elements_text(CAST({ids} AS json)) AS j(value)"

    same_name = staticmethod(same_name)
    id_list = staticmethod(id_list)


class _Sqlite:
    differs = staticmethod(differs)
    text_matches = staticmethod(text_matches)
    topic_matches = staticmethod(topic_matches)
    each_id = staticmethod(each_id)
    same_name = staticmethod(same_name)
    id_list = staticmethod(id_list)


def of(where: object) -> _Sqlite | _Postgres:
    """The mail dialect of the engine a Tx or a Database runs on."""
    return _Postgres() if getattr(where, "engine", "sqlite") == "postgresql" else _Sqlite()
