-- task_update(remove_depends_on=...) deletes dependency rows: a dependency let go of while not done lets go of
-- its count in tasks.unmet_deps (0016_schema.sql), so a task whose last unmet dependency is removed (one that
-- was cancelled or failed, say) joins the queue's ranges at once.
CREATE FUNCTION task_deps_count_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT status FROM tasks WHERE id = OLD.depends_on) IS DISTINCT FROM 'done' THEN
        UPDATE tasks SET unmet_deps = unmet_deps - 1 WHERE id = OLD.task_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER task_deps_count_released AFTER DELETE ON task_deps
    FOR EACH ROW EXECUTE FUNCTION task_deps_count_released();
