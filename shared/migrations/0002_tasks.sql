-- Tasks: the shared queue. A task is open (in the queue), claimed (held under a lease), blocked (waiting
-- on a person or a reason), or finished (done, failed, cancelled). A claim whose lease expired, or whose
-- holder has no live session, is treated as open by the SQL that claims and lists.
-- previous_holder: who last held or blocked it, so a holder whose claim lapsed can be told so.
-- priority: 0 low, 1 normal, 2 high, 3 urgent. tags/requires: JSON arrays of strings.

CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY,
    title            TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    priority         INTEGER NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 3),
    tags             TEXT NOT NULL DEFAULT '[]',
    requires         TEXT NOT NULL DEFAULT '[]',
    status           TEXT NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'claimed', 'blocked', 'done', 'failed', 'cancelled')),
    created_by       TEXT NOT NULL,
    assignee         TEXT,
    holder           TEXT,
    previous_holder  TEXT,
    claimed_at       REAL,
    lease_expires_at REAL,
    lease_seconds    REAL NOT NULL,
    progress         INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    note             TEXT,
    blocked_reason   TEXT,
    not_before       REAL,
    repeat_every     REAL,
    series_id        INTEGER,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3,
    result           TEXT,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    completed_at     REAL,
    CHECK ((status = 'claimed') = (holder IS NOT NULL))
);
CREATE INDEX tasks_queue ON tasks(priority DESC, id) WHERE status IN ('open', 'claimed');
CREATE INDEX tasks_by_holder ON tasks(holder) WHERE holder IS NOT NULL;
CREATE INDEX tasks_by_status ON tasks(status, id);

CREATE TABLE task_deps (
    task_id    INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    depends_on INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, depends_on),
    CHECK (task_id != depends_on)
) WITHOUT ROWID;
CREATE INDEX task_deps_reverse ON task_deps(depends_on, task_id);
