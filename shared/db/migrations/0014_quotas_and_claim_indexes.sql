-- Per-agent quotas (shared/store/quotas.py) and a claim that never scans what its caller cannot claim
-- (shared/store/tasks/queue.py). Each quota is counted over an index of that agent's rows alone.

-- Unfinished tasks by their creator (ROUNDTABLE_MAX_OPEN_TASKS).
CREATE INDEX tasks_unfinished_by_creator ON tasks(created_by) WHERE status IN ('open', 'claimed', 'blocked');
-- A knowledge entry's stored size in bytes, kept beside it so an author's total is read from an index
-- (ROUNDTABLE_MAX_KNOWLEDGE, ROUNDTABLE_MAX_KNOWLEDGE_BYTES).
ALTER TABLE knowledge ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
UPDATE knowledge SET size = length(CAST(title AS BLOB)) + length(CAST(body AS BLOB)) + length(CAST(tags AS BLOB))
    + COALESCE(length(CAST(source AS BLOB)), 0) + length(CAST(links AS BLOB)) + COALESCE(length(CAST(data AS BLOB)), 0);
CREATE INDEX knowledge_author_size ON knowledge(author_id, size);
-- Skill versions by author (ROUNDTABLE_MAX_SKILL_VERSIONS); retention keeps each skill's newest versions.
CREATE INDEX skills_by_author ON skills(author_id);
-- Open proposals by proposer (ROUNDTABLE_MAX_OPEN_PROPOSALS).
CREATE INDEX proposals_open_by_proposer ON proposals(proposer_id) WHERE status = 'open';

-- How many of a task's dependencies are not done yet, kept by the two triggers below: a dependency added
-- while not done counts one, a dependency that becomes done lets go of one. Finished tasks are final and
-- retention deletes one only when no unfinished task depends on it, so nothing else moves the count.
-- The claim still checks the dependencies themselves on the row (UNMET_DEPS); the count only keeps the
-- tasks that wait out of the ranges it picks from.
ALTER TABLE tasks ADD COLUMN unmet_deps INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET unmet_deps = (SELECT count(*) FROM task_deps d JOIN tasks dt ON dt.id = d.depends_on
    WHERE d.task_id = tasks.id AND dt.status != 'done');
CREATE TRIGGER task_deps_count_waiting AFTER INSERT ON task_deps
WHEN (SELECT status FROM tasks WHERE id = NEW.depends_on) IS NOT 'done'
BEGIN
    UPDATE tasks SET unmet_deps = unmet_deps + 1 WHERE id = NEW.task_id;
END;
CREATE TRIGGER tasks_done_releases_waiting AFTER UPDATE OF status ON tasks
WHEN NEW.status = 'done' AND OLD.status IS NOT 'done'
BEGIN
    UPDATE tasks SET unmet_deps = unmet_deps - 1 WHERE id IN (SELECT task_id FROM task_deps WHERE depends_on = NEW.id);
END;

-- The claim's pick reads three disjoint ranges of the open queue, none holding tasks assigned to someone
-- else or waiting on a dependency: tasks for anyone with no required capability, tasks assigned to the
-- caller, and tasks that require capabilities (read only by a caller that declared some).
CREATE INDEX tasks_queue_for_anyone ON tasks(priority DESC, id)
    WHERE status = 'open' AND unmet_deps = 0 AND assignee IS NULL AND requires = '[]';
CREATE INDEX tasks_queue_assigned ON tasks(assignee, priority DESC, id)
    WHERE status = 'open' AND unmet_deps = 0 AND assignee IS NOT NULL;
CREATE INDEX tasks_queue_requiring ON tasks(priority DESC, id)
    WHERE status = 'open' AND unmet_deps = 0 AND assignee IS NULL AND requires != '[]';
