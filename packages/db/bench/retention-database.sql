-- A year of history for timing `pnpm db:clean`, written straight into a migrated, empty dagbag
-- database: 200 hourly-scheduled DAGs of 4 tasks, 6 versions each (one every two months), 500
-- runs each over the last year (100,000 runs, one in eight manual, one in ten failed; the newest
-- run of every tenth DAG still running), 400,000 task instances (one in four took 4 tries:
-- 300,000 earlier tries), 1,000,000 audit events, 365 ended scheduler jobs and one running.
-- Triggers and foreign-key checks are off while it writes (session_replication_role).
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f packages/db/bench/retention-database.sql
SET session_replication_role = replica;
SET synchronous_commit = off;

INSERT INTO dag (dag_id, last_parsed_time, fileloc, relative_fileloc, timetable_summary,
                 catchup, start_date, next_dagrun_logical_date, next_dagrun_data_interval_start,
                 next_dagrun_data_interval_end, next_dagrun_create_after, created_at)
SELECT format('dag_%s', lpad(i::text, 3, '0')), now(),
       format('/srv/dags/dag_%s.json', lpad(i::text, 3, '0')),
       format('dag_%s.json', lpad(i::text, 3, '0')), '@hourly', false,
       now() - interval '366 days', date_trunc('hour', now()), date_trunc('hour', now()),
       date_trunc('hour', now()) + interval '1 hour', date_trunc('hour', now()) + interval '1 hour',
       now() - interval '366 days'
FROM generate_series(0, 199) i;

INSERT INTO dag_version (id, dag_id, version_number, created_at)
SELECT gen_random_uuid(), format('dag_%s', lpad(i::text, 3, '0')), n,
       now() - interval '366 days' + (n - 1) * interval '61 days'
FROM generate_series(0, 199) i, generate_series(1, 6) n;

INSERT INTO serialized_dag (dag_version_id, dag_id, data, dag_hash, created_at, last_updated)
SELECT v.id, v.dag_id,
       jsonb_build_object('dag_id', v.dag_id, 'schedule', '@hourly', 'tasks',
         (SELECT jsonb_agg(jsonb_build_object('task_id', format('task_%s', t), 'operator', 'bash',
                   'bash_command', 'echo hi')) FROM generate_series(0, 3) t)),
       md5(v.id::text) || md5(v.dag_id), v.created_at, v.created_at
FROM dag_version v;

INSERT INTO dag_code (dag_version_id, dag_id, fileloc, source_code, source_code_hash)
SELECT v.id, v.dag_id, format('/srv/dags/%s.json', v.dag_id), '{"dag_id": "' || v.dag_id || '"}',
       md5(v.id::text)
FROM dag_version v;

-- Run n of a DAG covers the hour that started 365 days * (500 - n) / 500 ago, on the version
-- current then.
INSERT INTO dag_run (dag_id, run_id, state, run_type, logical_date, run_after,
                     data_interval_start, data_interval_end, queued_at, start_date, end_date,
                     conf, triggered_by, created_dag_version_id, last_scheduling_decision,
                     updated_at)
SELECT d.dag_id,
       CASE WHEN n % 8 = 0 THEN 'manual__' ELSE 'scheduled__' END
         || to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS+00:00'),
       CASE WHEN n = 499 AND d.i % 10 = 0 THEN 'running'
            WHEN n % 10 = 9 THEN 'failed' ELSE 'success' END,
       CASE WHEN n % 8 = 0 THEN 'manual' ELSE 'scheduled' END,
       ts, ts + interval '1 hour', ts, ts + interval '1 hour', ts + interval '1 hour',
       ts + interval '1 hour 1 second',
       CASE WHEN n = 499 AND d.i % 10 = 0 THEN NULL ELSE ts + interval '1 hour 5 minutes' END,
       '{}'::jsonb, CASE WHEN n % 8 = 0 THEN 'rest_api' ELSE 'timetable' END,
       (SELECT v.id FROM dag_version v WHERE v.dag_id = d.dag_id AND v.created_at <= ts
        ORDER BY v.version_number DESC LIMIT 1),
       ts + interval '1 hour 5 minutes', ts + interval '1 hour 5 minutes'
FROM (SELECT i, format('dag_%s', lpad(i::text, 3, '0')) AS dag_id FROM generate_series(0, 199) i) d,
     generate_series(0, 499) n,
     LATERAL (SELECT date_trunc('hour', now()) - (500 - n) * interval '17 hours 31 minutes'
                     - (d.i % 60) * interval '1 minute' AS ts) t;

INSERT INTO task_instance (id, dag_id, run_id, task_id, map_index, dag_version_id, state,
                           try_number, max_tries, operator, start_date, end_date, duration,
                           hostname, pid, queued_dttm, scheduled_dttm, updated_at)
SELECT gen_random_uuid(), r.dag_id, r.run_id, format('task_%s', t), -1,
       r.created_dag_version_id,
       CASE WHEN r.state = 'running' THEN CASE WHEN t = 0 THEN 'running' ELSE NULL END
            WHEN r.state = 'failed' AND t = 3 THEN 'failed'
            ELSE 'success' END,
       CASE WHEN (r.id + t) % 4 = 0 THEN 4 ELSE 1 END, 3, 'bash',
       r.start_date + t * interval '1 second', r.end_date, 4.5, 'worker-1', 1000 + t,
       r.queued_at, r.queued_at, coalesce(r.end_date, r.start_date)
FROM dag_run r, generate_series(0, 3) t;

INSERT INTO task_instance_history (task_instance_id, dag_id, run_id, task_id, map_index,
                                   try_number, max_tries, state, operator, start_date, end_date,
                                   duration, hostname, pid, queued_dttm, scheduled_dttm,
                                   dag_version_id, recorded_at)
SELECT ti.id, ti.dag_id, ti.run_id, ti.task_id, ti.map_index, k, ti.max_tries, 'up_for_retry',
       ti.operator, ti.start_date, ti.start_date + interval '2 seconds', 2, ti.hostname, ti.pid,
       ti.queued_dttm, ti.scheduled_dttm, ti.dag_version_id, ti.start_date + interval '2 seconds'
FROM task_instance ti, generate_series(1, ti.try_number - 1) k
WHERE ti.try_number > 1;

INSERT INTO log (dttm, dag_id, run_id, event, owner, extra)
SELECT now() - interval '365 days' + g * interval '31.5 seconds',
       format('dag_%s', lpad((g % 200)::text, 3, '0')), format('scheduled__%s', g),
       (ARRAY['trigger_dag_run', 'patch_dag_run', 'failed', 'clear_task_instances'])[1 + g % 4],
       CASE WHEN g % 3 = 0 THEN 'scheduler' ELSE format('user_%s', g % 7) END,
       '{"state": "failed"}'
FROM generate_series(1, 1000000) g;

INSERT INTO job (job_type, state, hostname, pid, start_date, end_date, latest_heartbeat)
SELECT 'SchedulerJob', 'success', 'scheduler-1', 1000 + d, now() - (d + 1) * interval '1 day',
       now() - d * interval '1 day' - interval '1 minute', now() - d * interval '1 day' - interval '1 minute'
FROM generate_series(1, 365) d;
INSERT INTO job (job_type, state, hostname, pid, start_date, latest_heartbeat)
VALUES ('SchedulerJob', 'running', 'scheduler-1', 42, now(), now());

SET session_replication_role = origin;
VACUUM ANALYZE;
