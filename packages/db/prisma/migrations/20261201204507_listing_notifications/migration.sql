-- The `dagbag_listing` channel: what GET /dags shows changed, for the API's listing cache
-- (apps/api/src/listing-cache.ts), which drops every cached listing when it arrives. Written by
-- hand (no datamodel change), in the manner of 20261201154500_notifications:
--
-- * Sent in the transaction of the change (deferred constraint triggers run at COMMIT; a NOTIFY is
--   delivered only if its transaction commits).
-- * Payload `<commit time in epoch microseconds>,<table>`: the id is the table written (`dag` or
--   `import_error`), not the row, because a listing may change with any row (a filter, the order,
--   total_entries). The time is the COMMIT's statement_timestamp(), the same for every row, so a
--   transaction that writes 1,000 rows of a table sends ONE notification (PostgreSQL folds
--   identical ones).
-- * `dag`: any column of a row changed (last_parsed_time, next_dagrun_*, description, tags,
--   fileloc, is_stale, is_paused...), a row was inserted or deleted; an UPDATE that changes nothing
--   sends nothing. `import_error`: an error was recorded, replaced or removed (has_import_errors).
-- * TRUNCATE of either table too (a statement trigger: NOTIFY is still sent at commit only).
-- dagbag_dag (pause, insert, delete) stays as it is: the scheduler wakes on it, and it must not wake
-- on every parse.

CREATE FUNCTION dagbag_notify_listing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('dagbag_listing', dagbag_notification_time() || ',' || TG_TABLE_NAME);
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER dagbag_notify_listing_dag_written AFTER INSERT OR DELETE ON dag
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dagbag_notify_listing();
CREATE CONSTRAINT TRIGGER dagbag_notify_listing_dag_updated AFTER UPDATE ON dag
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (OLD.* IS DISTINCT FROM NEW.*)
  EXECUTE FUNCTION dagbag_notify_listing();
CREATE TRIGGER dagbag_notify_listing_dag_truncated AFTER TRUNCATE ON dag
  FOR EACH STATEMENT EXECUTE FUNCTION dagbag_notify_listing();

CREATE CONSTRAINT TRIGGER dagbag_notify_listing_import_error_written
  AFTER INSERT OR DELETE ON import_error
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dagbag_notify_listing();
CREATE CONSTRAINT TRIGGER dagbag_notify_listing_import_error_updated AFTER UPDATE ON import_error
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (OLD.* IS DISTINCT FROM NEW.*)
  EXECUTE FUNCTION dagbag_notify_listing();
CREATE TRIGGER dagbag_notify_listing_import_error_truncated AFTER TRUNCATE ON import_error
  FOR EACH STATEMENT EXECUTE FUNCTION dagbag_notify_listing();
