-- task_update(remove_depends_on=...) deletes dependency rows: a dependency let go of while not done lets go of
-- its count in tasks.unmet_deps (migration 0014), so a task whose last unmet dependency is removed (one that
-- was cancelled or failed, say) joins the queue's ranges at once.
CREATE TRIGGER task_deps_count_released AFTER DELETE ON task_deps
WHEN (SELECT status FROM tasks WHERE id = OLD.depends_on) IS NOT 'done'
BEGIN
    UPDATE tasks SET unmet_deps = unmet_deps - 1 WHERE id = OLD.task_id;
END;
