-- Notifications (LISTEN/NOTIFY) announcing the changes other processes act on: the scheduler
-- wakes on them, the DAG caches drop versions changed in place. Written by hand (no datamodel
-- change), as `prisma migrate dev --create-only` leaves custom SQL to the author.
--
-- * Sent in the transaction of the change: deferred constraint triggers run at COMMIT, and
--   PostgreSQL delivers a NOTIFY only if that transaction commits.
-- * Payload `<commit time in epoch microseconds>,<id>`: ids only (far below the 8000-byte limit);
--   the time lets listeners measure the lag from commit to receipt.
-- * Coalesced per transaction: the time is statement_timestamp() of the COMMIT, the same for
--   every row, so the same id twice in one transaction is an identical notification, which
--   PostgreSQL folds into one.
-- Channels (listeners: packages/db/src/notify):
--   dagbag_run      dag_run.id        a run was created, or became queued, success or failed
--   dagbag_task     dag_run.id        a task instance of the run left queued/running (finished,
--                                     retried, handed back) or was cleared (state NULL)
--   dagbag_version  dag_version.id    a version was created, updated in place (new dag_hash) or deleted
--   dagbag_dag      dag.dag_id        a DAG appeared, was paused or unpaused, or was deleted

CREATE FUNCTION dagbag_notification_time() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT floor(extract(epoch FROM statement_timestamp()) * 1000000)::bigint::text
$$;

CREATE FUNCTION dagbag_notify_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('dagbag_run', dagbag_notification_time() || ',' || NEW.id);
  RETURN NULL;
END
$$;

CREATE FUNCTION dagbag_notify_task() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  run_pk integer;
BEGIN
  SELECT id INTO run_pk FROM dag_run WHERE dag_id = NEW.dag_id AND run_id = NEW.run_id;
  IF run_pk IS NOT NULL THEN
    PERFORM pg_notify('dagbag_task', dagbag_notification_time() || ',' || run_pk);
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION dagbag_notify_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('dagbag_version', dagbag_notification_time() || ',' || OLD.dag_version_id);
  ELSE
    PERFORM pg_notify('dagbag_version', dagbag_notification_time() || ',' || NEW.dag_version_id);
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION dagbag_notify_dag() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('dagbag_dag', dagbag_notification_time() || ',' || OLD.dag_id);
  ELSE
    PERFORM pg_notify('dagbag_dag', dagbag_notification_time() || ',' || NEW.dag_id);
  END IF;
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER dagbag_notify_run_created AFTER INSERT ON dag_run
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dagbag_notify_run();
-- Not `running`: the scheduler itself starts runs, in the loop that goes on to examine them.
CREATE CONSTRAINT TRIGGER dagbag_notify_run_state AFTER UPDATE OF state ON dag_run
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state AND NEW.state IN ('queued', 'success', 'failed'))
  EXECUTE FUNCTION dagbag_notify_run();

-- Not the scheduler's own decisions (null -> scheduled, success, skipped...): the loop that makes
-- them goes on deciding; only what happens outside the loop gives it new work.
CREATE CONSTRAINT TRIGGER dagbag_notify_task_state AFTER UPDATE OF state ON task_instance
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state
        AND ((OLD.state IN ('queued', 'running') AND NEW.state IS DISTINCT FROM 'running')
             OR NEW.state IS NULL))
  EXECUTE FUNCTION dagbag_notify_task();

CREATE CONSTRAINT TRIGGER dagbag_notify_version_created AFTER INSERT ON serialized_dag
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dagbag_notify_version();
CREATE CONSTRAINT TRIGGER dagbag_notify_version_updated AFTER UPDATE OF dag_hash ON serialized_dag
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (OLD.dag_hash IS DISTINCT FROM NEW.dag_hash)
  EXECUTE FUNCTION dagbag_notify_version();
CREATE CONSTRAINT TRIGGER dagbag_notify_version_deleted AFTER DELETE ON serialized_dag
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dagbag_notify_version();

CREATE CONSTRAINT TRIGGER dagbag_notify_dag_created AFTER INSERT ON dag
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dagbag_notify_dag();
CREATE CONSTRAINT TRIGGER dagbag_notify_dag_paused AFTER UPDATE OF is_paused ON dag
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (OLD.is_paused IS DISTINCT FROM NEW.is_paused)
  EXECUTE FUNCTION dagbag_notify_dag();
CREATE CONSTRAINT TRIGGER dagbag_notify_dag_deleted AFTER DELETE ON dag
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dagbag_notify_dag();
