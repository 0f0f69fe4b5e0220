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
CREATE INDEX tasks_queue ON tasks(priority DESC, id) WHERE status = 'open';
CREATE INDEX tasks_by_holder ON tasks(holder) WHERE holder IS NOT NULL;
CREATE INDEX tasks_claimed ON tasks(lease_expires_at) WHERE status = 'claimed';

CREATE TABLE task_deps (
    task_id    INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    depends_on INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, depends_on),
    CHECK (task_id != depends_on)
) WITHOUT ROWID;
CREATE INDEX task_deps_reverse ON task_deps(depends_on, task_id);

-- A claim is one UPDATE statement (a single hop through aiosqlite, no transaction held open), so its
-- audit rows are written here, with the old and new holder at hand. Claiming a lapsed claim records the
-- lapse first.
CREATE TRIGGER tasks_claim_events AFTER UPDATE OF holder ON tasks
WHEN NEW.status = 'claimed' AND NEW.holder IS NOT OLD.holder
BEGIN
    INSERT INTO events(ts, agent_id, agent_name, kind, object_type, object_id, data)
    SELECT NEW.claimed_at, OLD.holder, (SELECT name FROM agents WHERE id = OLD.holder), 'task.lease_lapsed',
           'task', NEW.id, json_object('holder', OLD.holder, 'now', 'open')
    WHERE OLD.status = 'claimed';
    INSERT INTO events(ts, agent_id, agent_name, kind, object_type, object_id, data)
    VALUES (NEW.claimed_at, NEW.holder, (SELECT name FROM agents WHERE id = NEW.holder), 'task.claimed', 'task',
            NEW.id, json_object('lease_until', strftime('%Y-%m-%dT%H:%M:%SZ', NEW.lease_expires_at, 'unixepoch'),
                                'attempt', NEW.attempts + 1));
END;
