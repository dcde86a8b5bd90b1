-- A year of a busy installation, written straight into a migrated, empty dagbag database:
-- 2,000 DAGs (two of 500 tasks, the others of 4), ~11 versions each, 500 runs each (1,000,000),
-- ~4.5 million task instances, ~4.5 million earlier tries, 3 million audit events, 200 import
-- errors. Triggers and foreign-key checks are off while it writes (session_replication_role).
-- Run by big-database.ts (see there), which runs VACUUM ANALYZE after it.
SET session_replication_role = replica;
SET synchronous_commit = off;

INSERT INTO dag (dag_id, is_paused, is_stale, last_parsed_time, fileloc, relative_fileloc,
                 description, timetable_summary, tags, max_active_runs, max_active_tasks,
                 catchup, start_date, next_dagrun_logical_date, next_dagrun_data_interval_start,
                 next_dagrun_data_interval_end, next_dagrun_create_after, created_at)
SELECT format('dag_%s', lpad(i::text, 4, '0')),
       i % 10 = 3, i % 40 = 7, now() - interval '10 seconds',
       format('/srv/dags/team_%s/dag_%s.json', i % 20, lpad(i::text, 4, '0')),
       format('team_%s/dag_%s.json', i % 20, lpad(i::text, 4, '0')),
       'a DAG of the scale benchmark', '@hourly',
       ARRAY[format('team_%s', i % 20), CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END],
       16, 16, false, now() - interval '365 days',
       date_trunc('hour', now()) + interval '1 hour', date_trunc('hour', now()),
       date_trunc('hour', now()) + interval '1 hour', date_trunc('hour', now()) + interval '1 hour',
       now() - interval '365 days'
FROM generate_series(0, 1999) i;

-- Versions: DAG i has (i % 21) + 1 of them.
INSERT INTO dag_version (id, dag_id, version_number, created_at)
SELECT gen_random_uuid(), format('dag_%s', lpad(i::text, 4, '0')), n,
       now() - interval '365 days' + (n * interval '15 days')
FROM generate_series(0, 1999) i, generate_series(1, (i % 21) + 1) n;

INSERT INTO serialized_dag (dag_version_id, dag_id, data, dag_hash, created_at, last_updated)
SELECT v.id, v.dag_id,
       jsonb_build_object('dag_id', v.dag_id, 'is_paused_upon_creation', false, 'tasks',
         (SELECT jsonb_agg(jsonb_build_object('task_id', format('task_%s', t), 'operator', 'bash',
                   'bash_command', 'echo hi', 'upstream', CASE WHEN t = 0 THEN '[]'::jsonb
                   ELSE jsonb_build_array(format('task_%s', t - 1)) END))
          FROM generate_series(0, CASE WHEN v.dag_id IN ('dag_0000', 'dag_1000') THEN 499 ELSE 3 END) t)),
       md5(v.id::text) || md5(v.dag_id), v.created_at, v.created_at
FROM dag_version v;

INSERT INTO dag_code (dag_version_id, dag_id, fileloc, source_code, source_code_hash)
SELECT v.id, v.dag_id, format('/srv/dags/%s.json', v.dag_id), '{"dag_id": "' || v.dag_id || '"}',
       md5(v.id::text) || md5(v.dag_id)
FROM dag_version v;

-- Runs: 500 per DAG, hourly over the last weeks; the newest run of every 10th DAG is running,
-- of every 50th queued; 1 in 10 failed; 1 in 8 manual (triggered through the API).
CREATE TEMP TABLE latest_version AS
SELECT DISTINCT ON (dag_id) dag_id, id FROM dag_version ORDER BY dag_id, version_number DESC;
CREATE UNIQUE INDEX ON latest_version (dag_id);

INSERT INTO dag_run (dag_id, run_id, state, run_type, logical_date, run_after,
                     data_interval_start, data_interval_end, queued_at, start_date, end_date,
                     conf, triggered_by, triggering_user_name, created_dag_version_id,
                     last_scheduling_decision, updated_at)
SELECT d.dag_id,
       CASE WHEN n % 8 = 0 THEN 'manual__' ELSE 'scheduled__' END
         || to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS+00:00'),
       CASE WHEN n = 499 AND d.i % 10 = 0 THEN 'running'
            WHEN n = 499 AND d.i % 50 = 5 THEN 'queued'
            WHEN n % 10 = 9 THEN 'failed' ELSE 'success' END,
       CASE WHEN n % 8 = 0 THEN 'manual' ELSE 'scheduled' END,
       ts, ts + interval '1 hour', ts, ts + interval '1 hour',
       ts + interval '1 hour', ts + interval '1 hour 1 second',
       CASE WHEN n = 499 AND (d.i % 10 = 0 OR d.i % 50 = 5) THEN NULL
            ELSE ts + interval '1 hour 5 minutes' END,
       '{}'::jsonb,
       CASE WHEN n % 8 = 0 THEN 'rest_api' ELSE 'scheduler' END,
       CASE WHEN n % 8 = 0 THEN format('user_%s', n % 7) END,
       lv.id, ts + interval '1 hour 5 minutes', ts + interval '1 hour 5 minutes'
FROM (SELECT i, format('dag_%s', lpad(i::text, 4, '0')) AS dag_id FROM generate_series(0, 1999) i) d
JOIN latest_version lv ON lv.dag_id = d.dag_id,
     generate_series(0, 499) n,
     LATERAL (SELECT date_trunc('hour', now()) - (500 - n) * interval '1 hour'
                     - (d.i % 60) * interval '1 minute' AS ts) t;

-- Task instances: 4 per run (500 for dag_0000 and dag_1000). One in four took 4 tries.
INSERT INTO task_instance (id, dag_id, run_id, task_id, map_index, dag_version_id, state,
                           try_number, max_tries, operator, start_date, end_date, duration,
                           hostname, pid, queued_dttm, scheduled_dttm, updated_at)
SELECT gen_random_uuid(), r.dag_id, r.run_id, format('task_%s', t), -1,
       r.created_dag_version_id,
       CASE WHEN r.state = 'queued' THEN NULL
            WHEN r.state = 'running' THEN CASE WHEN t = 0 THEN 'running' ELSE NULL END
            WHEN r.state = 'failed' AND t = 3 THEN 'failed'
            WHEN r.state = 'failed' AND t > 3 THEN 'upstream_failed'
            ELSE 'success' END,
       CASE WHEN (r.id + t) % 4 = 0 THEN 4 ELSE 1 END, 3, 'bash',
       r.start_date + t * interval '1 second', r.end_date, 4.5, 'worker-1', 1000 + t,
       r.queued_at, r.queued_at, coalesce(r.end_date, r.start_date)
FROM dag_run r,
     generate_series(0, CASE WHEN r.dag_id IN ('dag_0000', 'dag_1000') THEN 499 ELSE 3 END) t;

INSERT INTO task_instance_history (task_instance_id, dag_id, run_id, task_id, map_index,
                                   try_number, max_tries, state, operator, start_date, end_date,
                                   duration, hostname, pid, queued_dttm, scheduled_dttm,
                                   dag_version_id, recorded_at)
SELECT ti.id, ti.dag_id, ti.run_id, ti.task_id, ti.map_index, k, ti.max_tries, 'up_for_retry',
       ti.operator, ti.start_date, ti.start_date + interval '2 seconds', 2, ti.hostname, ti.pid,
       ti.queued_dttm, ti.scheduled_dttm, ti.dag_version_id, ti.start_date + interval '2 seconds'
FROM task_instance ti, generate_series(1, ti.try_number - 1) k
WHERE ti.try_number > 1;

-- The audit trail: 3 million events over the year, of runs, tasks and the API.
INSERT INTO log (dttm, dag_id, task_id, map_index, run_id, try_number, logical_date, event, owner, extra)
SELECT now() - interval '365 days' + g * interval '10.5 seconds',
       format('dag_%s', lpad((g % 2000)::text, 4, '0')),
       CASE WHEN g % 3 = 0 THEN 'task_1' END, CASE WHEN g % 3 = 0 THEN -1 END,
       format('scheduled__%s', g), CASE WHEN g % 3 = 0 THEN 1 END, NULL,
       (ARRAY['trigger_dag_run', 'patch_dag_run', 'failed', 'clear_task_instances', 'patch_dag',
              'heartbeat_timeout', 'post_clear_task_instances'])[1 + g % 7],
       CASE WHEN g % 3 = 0 THEN 'scheduler' ELSE format('user_%s', g % 7) END,
       '{"state": "failed"}'
FROM generate_series(1, 3000000) g;

INSERT INTO import_error (filename, bundle_name, stacktrace, timestamp)
SELECT format('/srv/dags/broken/broken_%s.json', i), 'dags-folder',
       format('broken_%s.json: line %s: unexpected token', i, i % 40), now() - i * interval '1 hour'
FROM generate_series(1, 200) i;
-- Some broken files are files of DAGs that were fine before (has_import_errors).
INSERT INTO import_error (filename, bundle_name, stacktrace, timestamp)
SELECT fileloc, 'dags-folder', 'unknown upstream task', now() FROM dag WHERE dag_id LIKE '%7';

INSERT INTO job (job_type, state, hostname, pid, start_date, latest_heartbeat)
VALUES ('SchedulerJob', 'running', 'scheduler-1', 42, now(), now());

SET session_replication_role = origin;
