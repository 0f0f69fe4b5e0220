"""The engine-specific SQL of mail, named once per engine (`of(tx)`): full-text search, topic patterns, id
lists, comparisons.

The mail store (inbox.py, send.py, mine.py) builds its queries from these and writes everything else in plain
SQL, so an engine supplies these forms, not the queries around them.
"""

from __future__ import annotations

from shared.db.dialects import PostgresIds, SqliteIds, by_engine
from shared.db.dialects import id_list as id_list


def same_name(column: str, name: str) -> str:
    """`column` holds the name `name`, ignoring case (as agent names are compared everywhere; on PostgreSQL
    through the ICU collation `nocase`)."""
    return f"{column} = {name} COLLATE NOCASE"


class Sqlite(SqliteIds):
    """SQLite's forms: FTS5, GLOB, IS NOT, json_each."""

    same_name = staticmethod(same_name)
    id_list = staticmethod(id_list)
    deferred_index = True
    """Messages are indexed for search after their send, in the background (shared/store/mail/search.py)."""

    @staticmethod
    def text_matches(message_id: str, query: str) -> str:
        """`message_id` is a message whose subject or body matches `query` (built by
        shared/rules/quoting.quote_words, never raw user text): in messages_fts, or in the unindexed tail that
        search.prepare copied into this connection's temp.mail_tail for this search."""
        return (
            f"({message_id} IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH {query})"
            f" OR {message_id} IN (SELECT rowid FROM temp.mail_tail WHERE mail_tail MATCH {query}))"
        )

    @staticmethod
    def topic_matches(topic: str, pattern: str) -> str:
        """`topic` matches the topic pattern `pattern`, where '*' stands for any run of characters (topic
        names and patterns are checked by send.check_topic, so no other wildcard character can occur)."""
        return f"{topic} GLOB {pattern}"

    @staticmethod
    def differs(left: str, right: str) -> str:
        """`left` and `right` are not the same value, NULL counting as a value (NULL differs from 'x')."""
        return f"{left} IS NOT {right}"


class Postgres(PostgresIds, Sqlite):
    """PostgreSQL's forms: the messages.search tsvector (the same quoted words read as websearch syntax), LIKE
    with '*' made '%' (and LIKE's own wildcards escaped), IS DISTINCT FROM, json_array_elements_text."""

    deferred_index = False
    """messages.search is a generated column: each message is indexed in its INSERT."""

    @staticmethod
    def text_matches(message_id: str, query: str) -> str:
        words = f"regexp_replace({query}, '[^[:alnum:][:space:]\"-]+', ' ', 'g')"  # as the index splits them
        return f"{message_id} IN (SELECT id FROM messages WHERE search @@ websearch_to_tsquery('english', {words}))"

    @staticmethod
    def topic_matches(topic: str, pattern: str) -> str:
        escaped = f"replace(replace(replace({pattern}, '\\', '\\\\'), '%', '\\%'), '_', '\\_')"
        return f"{topic} LIKE replace({escaped}, '*', '%') ESCAPE '\\'"

    @staticmethod
    def differs(left: str, right: str) -> str:
        return f"{left} IS DISTINCT FROM {right}"


SQLITE = Sqlite()
POSTGRES = Postgres()


of = by_engine(SQLITE, POSTGRES)
