/**
 * The zod schemas of the API: request parameters and bodies (they validate input) and response
 * bodies (they document output). The OpenAPI document is generated from exactly these, so what is
 * documented is what is validated. Names and fields follow Airflow's REST API v2.
 */
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

export const MAX_PAGE_LIMIT = 1000;
export const DEFAULT_PAGE_LIMIT = 50;

// ---------------------------------------------------------------------------------------------
// Query parameter building blocks (query values arrive as strings, or arrays when repeated)

/** A repeated query parameter (`?state=a&state=b`), also accepted once. */
export function listParam<T extends z.ZodType>(item: T) {
  return z.preprocess(
    (value) => (value === undefined || Array.isArray(value) ? value : [value]),
    z.array(item).optional(),
  );
}

/**
 * A boolean query value as pydantic (so FastAPI, so Airflow) reads one: these words in any case.
 * Python clients send `True`/`False` (`requests.get(url, params={"paused": True})`).
 */
const TRUE_WORDS = ['true', '1', 'yes', 'on', 't', 'y'];
const FALSE_WORDS = ['false', '0', 'no', 'off', 'f', 'n'];
export const booleanParam = z
  .preprocess(
    (value) => (typeof value === 'string' ? value.toLowerCase() : value),
    z.enum([...TRUE_WORDS, ...FALSE_WORDS] as [string, ...string[]]),
  )
  .transform((value) => TRUE_WORDS.includes(value))
  .openapi({ type: 'boolean' });

/** Integers stored in PostgreSQL `integer` columns (and page bounds) stay within its range. */
const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;

/**
 * An integer query or path value, read as FastAPI reads one: optional sign and digits, nothing
 * else (not empty, not blank, not `0x10`, not `1e3`), within PostgreSQL's integer range; else 422.
 */
export function integerParamIn(bounds: { min?: number; max?: number } = {}) {
  const min = bounds.min ?? INT32_MIN;
  const max = bounds.max ?? INT32_MAX;
  return z
    .string()
    .regex(/^[+-]?\d+$/, 'Input should be a valid integer, unable to parse string as an integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .openapi({ type: 'integer', minimum: min, maximum: max });
}

export const integerParam = integerParamIn();

/**
 * A decimal query value as FastAPI reads a float (`1`, `0.5`, `1e3`); not empty, blank or `0x10`.
 * The pattern splits digits one way only: `\d+\.?\d*` tried every split of a long run of digits
 * (quadratic: half a second for one 16 KB query value, the event loop held meanwhile).
 */
export const numberParam = z
  .string()
  .regex(/^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/, 'Input should be a valid number')
  .transform(Number)
  .pipe(z.number().finite())
  .openapi({ type: 'number' });

/** An ISO 8601 timestamp ending in `Z` or an offset such as `+01:00`. */
const OFFSET_SUFFIX = /(?:Z|[+-]\d{2}:?\d{2})$/i;

/** A calendar date alone, which Airflow's query timestamps accept (pydantic's lax datetime). */
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Query timestamps: one without an offset is UTC (as Airflow reads it), never the server's zone;
 * a date alone is its midnight UTC.
 */
export const dateTimeParam = z
  .string()
  .transform((value) => (DATE_ONLY.test(value) ? `${value}T00:00:00` : value))
  .pipe(z.iso.datetime({ offset: true, local: true }))
  .transform((value) => new Date(OFFSET_SUFFIX.test(value) ? value : `${value}Z`))
  .openapi({
    type: 'string',
    format: 'date-time',
    description:
      'ISO 8601; without Z or an offset it is read as UTC; a date alone is its midnight UTC.',
  });

export const pagination = {
  limit: integerParamIn({ min: 0 })
    .default(DEFAULT_PAGE_LIMIT)
    // Like Airflow's maximum_page_limit: larger values are served as the maximum, not refused.
    .transform((limit) => Math.min(limit, MAX_PAGE_LIMIT))
    .openapi({
      type: 'integer',
      minimum: 0,
      default: DEFAULT_PAGE_LIMIT,
      description: `Page size; values above ${MAX_PAGE_LIMIT} are served as ${MAX_PAGE_LIMIT}.`,
    }),
  offset: integerParamIn({ min: 0 })
    .default(0)
    .openapi({ type: 'integer', minimum: 0, default: 0 }),
};

/**
 * Airflow's `order_by`: repeated keys, each optionally prefixed by `-` for descending. `columns`
 * maps every accepted API name onto the sort column the query layer knows (e.g. `dag_run_id` ->
 * `run_id`), so the output is typed as that layer's `SortKey`s and nothing else can reach it.
 */
/**
 * The `params` of a validation issue that Airflow answers 400 with its message as `detail` (a
 * refusal by the operation, such as SortParam's), rather than FastAPI's 422 list.
 */
export const BAD_REQUEST_ISSUE = { httpStatus: 400 } as const;

/** Airflow's SortParam.MAX_SORT_PARAMS: more `order_by` keys are refused. */
export const MAX_ORDER_BY_KEYS = 10;

export function orderByParam<K extends string, C extends string>(
  columns: Readonly<Record<K, C>>,
  defaultKey: NoInfer<K>,
) {
  const names = Object.keys(columns) as K[];
  const isName = (name: string): name is K => Object.hasOwn(columns, name);
  const toKey = (key: string): { column: C; descending: boolean } | undefined => {
    const name = key.replace(/^-/, '');
    return isName(name) ? { column: columns[name], descending: key.startsWith('-') } : undefined;
  };
  return listParam(z.string())
    .superRefine((keys, ctx) => {
      // Airflow's SortParam answers these 400 (not 422): the params mark them for the route.
      if ((keys?.length ?? 0) > MAX_ORDER_BY_KEYS)
        ctx.addIssue({
          code: 'custom',
          message: `Ordering with more than ${MAX_ORDER_BY_KEYS} parameters is not allowed. Provided: ${keys!.length}`,
          params: BAD_REQUEST_ISSUE,
        });
      for (const key of keys ?? []) {
        if (toKey(key) === undefined) {
          ctx.addIssue({
            code: 'custom',
            message: `Ordering with '${key}' is disallowed or the attribute does not exist on the model; use one of ${names.join(', ')}, optionally prefixed by '-'`,
            params: BAD_REQUEST_ISSUE,
          });
        }
      }
    })
    .transform((keys) =>
      (keys && keys.length > 0 ? keys : [defaultKey]).flatMap((key) => toKey(key) ?? []),
    )
    .openapi({
      type: 'array',
      items: { type: 'string', enum: names.flatMap((name) => [name, `-${name}`]) },
      default: [defaultKey],
    });
}

/** The four bounds Airflow offers for each filterable timestamp, e.g. `run_after_gte`. */
export function timeRangeParams<P extends string>(prefix: P) {
  return {
    [`${prefix}_gte`]: dateTimeParam.optional(),
    [`${prefix}_gt`]: dateTimeParam.optional(),
    [`${prefix}_lte`]: dateTimeParam.optional(),
    [`${prefix}_lt`]: dateTimeParam.optional(),
  } as Record<`${P}_${'gte' | 'gt' | 'lte' | 'lt'}`, z.ZodOptional<typeof dateTimeParam>>;
}

// ---------------------------------------------------------------------------------------------
// Path parameters

export const dagIdParam = z.object({ dag_id: z.string().min(1) });
export const dagRunParams = z.object({ dag_id: z.string().min(1), dag_run_id: z.string().min(1) });
export const dagVersionParams = z.object({
  dag_id: z.string().min(1),
  version_number: integerParam,
});
export const taskInstanceParams = dagRunParams.extend({ task_id: z.string().min(1) });
export const taskLogParams = taskInstanceParams.extend({
  try_number: integerParamIn({ min: 0 }),
});

// ---------------------------------------------------------------------------------------------
// Shared response pieces

const dateTime = z.string().openapi({ format: 'date-time' });
const nullableDateTime = dateTime.nullable();

export const HTTPExceptionResponse = z
  .object({ detail: z.union([z.string(), z.record(z.string(), z.unknown())]) })
  .openapi('HTTPExceptionResponse');

export const ValidationError = z
  .object({
    loc: z.array(z.union([z.string(), z.number().int()])),
    msg: z.string(),
    type: z.string(),
  })
  .openapi('ValidationError');

export const HTTPValidationError = z
  .object({ detail: z.array(ValidationError) })
  .openapi('HTTPValidationError');

export const DagRunState = z
  .enum(['queued', 'running', 'success', 'failed'])
  .openapi('DagRunState');
/**
 * Airflow reads `none` in a run state or run type list as "no value"; every run here has both,
 * so it selects no run (a 422 for it was not Airflow's answer).
 */
export const NO_VALUE = z.literal('none');
export const DagRunType = z
  .enum(['backfill', 'scheduled', 'manual', 'asset_triggered'])
  .openapi('DagRunType');
export const DagRunTriggeredByType = z
  .enum(['cli', 'operator', 'rest_api', 'ui', 'test', 'timetable', 'asset', 'backfill'])
  .openapi('DagRunTriggeredByType');
export const TaskInstanceState = z
  .enum([
    'removed',
    'scheduled',
    'queued',
    'running',
    'success',
    'restarting',
    'failed',
    'up_for_retry',
    'up_for_reschedule',
    'upstream_failed',
    'skipped',
    'deferred',
  ])
  .openapi('TaskInstanceState');

export const DagTagResponse = z
  .object({ name: z.string(), dag_id: z.string(), dag_display_name: z.string() })
  .openapi('DagTagResponse');

export const DagVersionResponse = z
  .object({
    id: z.uuid(),
    version_number: z.number().int(),
    dag_id: z.string(),
    bundle_name: z.string().nullable(),
    bundle_version: z.string().nullable(),
    created_at: dateTime,
    dag_display_name: z.string(),
    bundle_url: z.string().nullable(),
  })
  .openapi('DagVersionResponse');

export const DAGVersionCollectionResponse = z
  .object({ dag_versions: z.array(DagVersionResponse), total_entries: z.number().int() })
  .openapi('DAGVersionCollectionResponse');

const dagFields = {
  dag_id: z.string(),
  dag_display_name: z.string(),
  is_paused: z.boolean(),
  is_stale: z.boolean(),
  last_parsed_time: nullableDateTime,
  last_expired: nullableDateTime,
  bundle_name: z.string().nullable(),
  bundle_version: z.string().nullable(),
  relative_fileloc: z.string().nullable(),
  fileloc: z.string(),
  description: z.string().nullable(),
  timetable_summary: z.string().nullable(),
  timetable_description: z.string().nullable(),
  tags: z.array(DagTagResponse),
  max_active_tasks: z.number().int(),
  max_active_runs: z.number().int().nullable(),
  max_consecutive_failed_dag_runs: z.number().int(),
  has_task_concurrency_limits: z.boolean(),
  has_import_errors: z.boolean(),
  next_dagrun_logical_date: nullableDateTime,
  next_dagrun_data_interval_start: nullableDateTime,
  next_dagrun_data_interval_end: nullableDateTime,
  next_dagrun_run_after: nullableDateTime,
  owners: z.array(z.string()),
  file_token: z.string(),
};

export const DAGResponse = z.object(dagFields).openapi('DAGResponse');
export const DAGCollectionResponse = z
  .object({ dags: z.array(DAGResponse), total_entries: z.number().int() })
  .openapi('DAGCollectionResponse');

export const DAGDetailsResponse = z
  .object({
    ...dagFields,
    catchup: z.boolean(),
    dag_run_timeout: z.string().nullable().openapi({ format: 'duration' }),
    asset_expression: z.record(z.string(), z.unknown()).nullable(),
    doc_md: z.string().nullable(),
    start_date: nullableDateTime,
    end_date: nullableDateTime,
    is_paused_upon_creation: z.boolean().nullable(),
    params: z.record(z.string(), z.unknown()).nullable(),
    render_template_as_native_obj: z.boolean(),
    template_search_path: z.array(z.string()).nullable(),
    timezone: z.string().nullable(),
    last_parsed: nullableDateTime,
    default_args: z.record(z.string(), z.unknown()).nullable(),
    owner_links: z.record(z.string(), z.string()).nullable(),
    concurrency: z.number().int(),
    latest_dag_version: DagVersionResponse.nullable(),
  })
  .openapi('DAGDetailsResponse');

export const TimeDelta = z
  .object({
    __type: z.string().default('TimeDelta'),
    days: z.number().int(),
    seconds: z.number().int(),
    microseconds: z.number().int(),
  })
  .openapi('TimeDelta');

export const TaskResponse = z
  .object({
    task_id: z.string().nullable(),
    task_display_name: z.string().nullable(),
    owner: z.string().nullable(),
    start_date: nullableDateTime,
    end_date: nullableDateTime,
    trigger_rule: z.string().nullable(),
    depends_on_past: z.boolean(),
    wait_for_downstream: z.boolean(),
    retries: z.number().nullable(),
    queue: z.string().nullable(),
    pool: z.string().nullable(),
    pool_slots: z.number().nullable(),
    execution_timeout: TimeDelta.nullable(),
    retry_delay: TimeDelta.nullable(),
    retry_exponential_backoff: z.boolean(),
    priority_weight: z.number().nullable(),
    weight_rule: z.string().nullable(),
    ui_color: z.string().nullable(),
    ui_fgcolor: z.string().nullable(),
    template_fields: z.array(z.string()).nullable(),
    downstream_task_ids: z.array(z.string()).nullable(),
    doc_md: z.string().nullable(),
    operator_name: z.string().nullable(),
    params: z.record(z.string(), z.unknown()).nullable(),
    class_ref: z.record(z.string(), z.unknown()).nullable(),
    is_mapped: z.boolean().nullable(),
    extra_links: z.array(z.string()),
  })
  .openapi('TaskResponse');

export const TaskCollectionResponse = z
  .object({ tasks: z.array(TaskResponse), total_entries: z.number().int() })
  .openapi('TaskCollectionResponse');

export const DAGRunResponse = z
  .object({
    dag_run_id: z.string(),
    dag_id: z.string(),
    logical_date: nullableDateTime,
    queued_at: nullableDateTime,
    start_date: nullableDateTime,
    end_date: nullableDateTime,
    duration: z.number().nullable(),
    data_interval_start: nullableDateTime,
    data_interval_end: nullableDateTime,
    run_after: dateTime,
    last_scheduling_decision: nullableDateTime,
    run_type: DagRunType,
    state: DagRunState,
    triggered_by: DagRunTriggeredByType.nullable(),
    triggering_user_name: z.string().nullable().openapi({
      description:
        'Who triggered the run through the API: the name of its `name:token` entry in `API_AUTH_TOKENS`, else `token:` and the first 12 hex digits of the sha256 of its token (never the token); null for scheduled runs.',
    }),
    conf: z.record(z.string(), z.unknown()).nullable(),
    note: z.string().nullable(),
    dag_versions: z.array(DagVersionResponse),
    bundle_version: z.string().nullable(),
    dag_display_name: z.string(),
  })
  .openapi('DAGRunResponse');

export const DAGRunCollectionResponse = z
  .object({ dag_runs: z.array(DAGRunResponse), total_entries: z.number().int() })
  .openapi('DAGRunCollectionResponse');

export const TaskInstanceResponse = z
  .object({
    id: z.string(),
    task_id: z.string(),
    dag_id: z.string(),
    dag_run_id: z.string(),
    map_index: z.number().int(),
    logical_date: nullableDateTime,
    run_after: dateTime,
    start_date: nullableDateTime,
    end_date: nullableDateTime,
    duration: z.number().nullable(),
    state: TaskInstanceState.nullable(),
    try_number: z.number().int(),
    max_tries: z.number().int(),
    task_display_name: z.string(),
    dag_display_name: z.string(),
    hostname: z.string().nullable(),
    unixname: z.string().nullable(),
    pool: z.string(),
    pool_slots: z.number().int(),
    queue: z.string().nullable(),
    priority_weight: z.number().int().nullable(),
    operator: z.string().nullable(),
    operator_name: z.string().nullable(),
    queued_when: nullableDateTime,
    scheduled_when: nullableDateTime,
    pid: z.number().int().nullable(),
    executor: z.string().nullable(),
    executor_config: z.string(),
    note: z.string().nullable(),
    rendered_map_index: z.string().nullable(),
    rendered_fields: z.record(z.string(), z.unknown()),
    trigger: z.null().openapi({ description: 'Deferrable tasks are not supported: always null.' }),
    triggerer_job: z
      .null()
      .openapi({ description: 'Deferrable tasks are not supported: always null.' }),
    dag_version: DagVersionResponse.nullable(),
  })
  .openapi('TaskInstanceResponse');

export const TaskInstanceCollectionResponse = z
  .object({ task_instances: z.array(TaskInstanceResponse), total_entries: z.number().int() })
  .openapi('TaskInstanceCollectionResponse');

export const StructuredLogMessage = z
  .object({ timestamp: dateTime.optional(), event: z.string() })
  .catchall(z.unknown())
  .openapi('StructuredLogMessage');

export const TaskInstancesLogResponse = z
  .object({
    content: z.union([z.array(StructuredLogMessage), z.array(z.string())]),
    continuation_token: z.string().nullable(),
  })
  .openapi('TaskInstancesLogResponse');

export const ImportErrorResponse = z
  .object({
    import_error_id: z.number().int(),
    timestamp: dateTime,
    filename: z.string(),
    bundle_name: z.string().nullable(),
    stack_trace: z.string(),
  })
  .openapi('ImportErrorResponse');

export const ImportErrorCollectionResponse = z
  .object({ import_errors: z.array(ImportErrorResponse), total_entries: z.number().int() })
  .openapi('ImportErrorCollectionResponse');

const componentStatus = (heartbeatField: string) =>
  z.object({ status: z.string().nullable(), [heartbeatField]: z.string().nullable() });

export const HealthInfoResponse = z
  .object({
    metadatabase: z.object({ status: z.string().nullable() }).openapi('BaseInfoResponse'),
    scheduler: componentStatus('latest_scheduler_heartbeat').openapi('SchedulerInfoResponse'),
    triggerer: componentStatus('latest_triggerer_heartbeat').openapi('TriggererInfoResponse'),
    dag_processor: componentStatus('latest_dag_processor_heartbeat')
      .openapi('DagProcessorInfoResponse')
      .nullable(),
  })
  .openapi('HealthInfoResponse');

export const VersionInfo = z
  .object({ version: z.string(), git_version: z.string().nullable() })
  .openapi('VersionInfo');

// ---------------------------------------------------------------------------------------------
// Request bodies

/**
 * Body timestamps must say their zone (Airflow's AwareDatetime): a naive one is refused, not
 * guessed.
 */
const nullableDateTimeInput = z.iso
  .datetime({ offset: true, local: true })
  .refine((value) => OFFSET_SUFFIX.test(value), {
    message: 'Input should have timezone info (end it with Z or an offset such as +01:00)',
  })
  .transform((value) => new Date(value))
  .nullable()
  .openapi({
    type: ['string', 'null'],
    format: 'date-time',
    description: 'ISO 8601 with Z or an offset such as +01:00; a timestamp without one is 422.',
  });

/**
 * A body timestamp Airflow declares as a plain `datetime` (only a trigger's `run_after`): one
 * without an offset is UTC, as Airflow's `coerce_datetime` makes it aware in its default zone
 * (UTC), never the server's zone; read as the query timestamps are.
 */
const nullableLaxDateTimeInput = dateTimeParam.nullable().openapi({
  type: ['string', 'null'],
  format: 'date-time',
  description:
    'ISO 8601; without Z or an offset it is read as UTC (Airflow types it a plain datetime); a date alone is its midnight UTC.',
});

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * A run's `conf`: any JSON object, kept exactly as sent (the object itself is passed on, not a
 * copy that would drop keys such as `__proto__`). Its depth is bounded by API_BODY_MAX_DEPTH and
 * its numbers must be exact (both checked when the body is read), its size by API_BODY_LIMIT_BYTES.
 */
const confInput = z
  .custom<Record<string, unknown>>(isPlainObject, { message: 'Input should be a valid dictionary' })
  .nullable()
  .optional()
  .openapi({
    type: ['object', 'null'],
    additionalProperties: true,
    description:
      "Any JSON object, stored and returned exactly as sent: at most API_BODY_MAX_DEPTH levels deep (default 32), within API_BODY_LIMIT_BYTES, numbers exactly representable as 64-bit floats. The run's tasks read it as JSON in $DAG_RUN_CONF (up to 131,058 bytes of JSON; a larger conf fails each task with the reason in its log).",
  });

export const TriggerDAGRunPostBody = z
  .strictObject({
    dag_run_id: z.string().nullable().optional().openapi({
      description:
        "Letters, digits and _ . ~ : + - (Airflow's allowed_run_id_pattern), at most 250 characters; otherwise 400.",
    }),
    data_interval_start: nullableDateTimeInput.optional(),
    data_interval_end: nullableDateTimeInput.optional(),
    logical_date: nullableDateTimeInput,
    run_after: nullableLaxDateTimeInput.optional(),
    conf: confInput,
    note: z.string().nullable().optional(),
  })
  .superRefine((body, ctx) => {
    const start = body.data_interval_start ?? null;
    const end = body.data_interval_end ?? null;
    if ((start === null) !== (end === null)) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message:
          'Value error, Either both data_interval_start and data_interval_end must be provided or both must be None',
      });
    } else if (start !== null && end !== null && start > end) {
      ctx.addIssue({
        code: 'custom',
        path: ['data_interval_end'],
        message: 'data_interval_end must not be before data_interval_start',
      });
    }
  })
  .openapi('TriggerDAGRunPostBody');

export const DAGRunPatchBody = z
  .strictObject({
    state: z
      .enum(['queued', 'success', 'failed'])
      .openapi('DAGRunPatchStates')
      .nullable()
      .optional(),
    note: z.string().max(1000).nullable().optional(),
  })
  .openapi('DAGRunPatchBody');

export const DAGRunClearBody = z
  .strictObject({
    dry_run: z.boolean().default(true),
    only_failed: z.boolean().default(false),
    run_on_latest_version: z.boolean().default(false).openapi({
      description:
        "Accepted for compatibility, and true in effect: a cleared run keeps its version until the scheduler runs it again, which moves it (its cleared task instances included) to the DAG's latest version.",
    }),
  })
  .openapi('DAGRunClearBody');

// ---------------------------------------------------------------------------------------------
// Our additions

export const StructureNode = z
  .object({
    id: z.string(),
    label: z.string(),
    type: z.literal('task'),
    operator: z.string(),
    trigger_rule: z.string(),
    retries: z.number().int(),
  })
  .openapi('StructureNode');

export const StructureEdge = z
  .object({ source_id: z.string(), target_id: z.string() })
  .openapi('StructureEdge');

export const DagStructureResponse = z
  .object({
    dag_id: z.string(),
    version_number: z.number().int(),
    dag_version_id: z.uuid(),
    dag_hash: z.string(),
    nodes: z.array(StructureNode),
    edges: z.array(StructureEdge),
  })
  .openapi('DagStructureResponse', {
    description: 'The task graph of exactly one DAG version, served through the DAG cache.',
  });

export const DagBagStatsResponse = z
  .object({
    role: z.enum(['api', 'scheduler']),
    admission: z.enum(['tinylfu', 'none']),
    entries: z.number().int(),
    weight_bytes: z.number().int(),
    max_entries: z.number().int(),
    max_bytes: z.number().int(),
    ttl_seconds: z.number().int(),
    revalidate_seconds: z.number().int(),
    hits: z.number().int(),
    misses: z.object({ loaded: z.number().int(), not_found: z.number().int() }),
    evictions: z.object({
      capacity: z.number().int(),
      bytes: z.number().int(),
      ttl: z.number().int(),
      inactive: z.number().int(),
      invalidated: z.number().int(),
    }),
    hit_ratio: z.number().nullable(),
    loads: z.number().int(),
    load_queries: z.number().int(),
    load_failures: z.number().int(),
    in_flight: z.number().int(),
    coalesced: z.number().int(),
    negative_hits: z.number().int(),
    negative_entries: z.number().int(),
    hash_reads: z.number().int(),
    validations_skipped: z.number().int(),
    admission_rejections: z.number().int(),
    oversize_rejections: z.number().int(),
    window_percent: z.number(),
  })
  .openapi('DagBagStatsResponse', {
    description: "Live figures of this server's DAG cache (role api).",
  });

// ---------------------------------------------------------------------------------------------
// DAG operations and the small families: pause/delete, sources, stats, warnings, event logs

/**
 * A 32-bit integer query/path value (ids, map indexes, try numbers): larger is refused with 422.
 */
export const int32Param = integerParam
  .pipe(z.number().min(-2_147_483_648).max(2_147_483_647))
  .openapi({ type: 'integer' });

export const DAGPatchBody = z.strictObject({ is_paused: z.boolean() }).openapi('DAGPatchBody');

export const DAGTagCollectionResponse = z
  .object({ tags: z.array(z.string()), total_entries: z.number().int() })
  .openapi('DAGTagCollectionResponse');

export const DAGSourceResponse = z
  .object({
    content: z.string().nullable(),
    dag_id: z.string(),
    version_number: z.number().int().nullable(),
    dag_display_name: z.string(),
  })
  .openapi('DAGSourceResponse');

export const DagStatsStateResponse = z
  .object({ state: DagRunState, count: z.number().int() })
  .openapi('DagStatsStateResponse');
export const DagStatsResponse = z
  .object({
    dag_id: z.string(),
    dag_display_name: z.string(),
    stats: z.array(DagStatsStateResponse),
  })
  .openapi('DagStatsResponse');
export const DagStatsCollectionResponse = z
  .object({ dags: z.array(DagStatsResponse), total_entries: z.number().int() })
  .openapi('DagStatsCollectionResponse');

/** Airflow's warning types: they concern assets and pools, which this system does not have. */
export const AIRFLOW_DAG_WARNING_TYPES = ['asset conflict', 'non-existent pool'] as const;
/**
 * Airflow's warning types, plus ours: `stale dag` (the DAG's file vanished from DAGS_FOLDER; its
 * history stays readable, no run is scheduled), listed only when asked for.
 */
export const DagWarningType = z
  .enum([...AIRFLOW_DAG_WARNING_TYPES, 'stale dag'])
  .openapi('DagWarningType');
export const DAGWarningResponse = z
  .object({
    dag_id: z.string(),
    warning_type: DagWarningType,
    message: z.string(),
    timestamp: dateTime,
    dag_display_name: z.string(),
  })
  .openapi('DAGWarningResponse');
export const DAGWarningCollectionResponse = z
  .object({ dag_warnings: z.array(DAGWarningResponse), total_entries: z.number().int() })
  .openapi('DAGWarningCollectionResponse');

export const EventLogResponse = z
  .object({
    event_log_id: z.number().int(),
    when: dateTime,
    dag_id: z.string().nullable(),
    task_id: z.string().nullable(),
    run_id: z.string().nullable(),
    map_index: z.number().int().nullable(),
    try_number: z.number().int().nullable(),
    event: z.string(),
    logical_date: nullableDateTime,
    owner: z.string().nullable(),
    extra: z.string().nullable(),
    dag_display_name: z.string().nullable(),
  })
  .openapi('EventLogResponse');
export const EventLogCollectionResponse = z
  .object({ event_logs: z.array(EventLogResponse), total_entries: z.number().int() })
  .openapi('EventLogCollectionResponse');

// ---------------------------------------------------------------------------------------------
// DAG run and task instance operations: batch listings, state changes, clear, tries, dependencies

/** The `<prefix>_gte/_gt/_lte/_lt` bounds of a batch body (date-times, or null for none). */
function bodyTimeRange<P extends string>(prefix: P) {
  return {
    [`${prefix}_gte`]: nullableDateTimeInput.optional(),
    [`${prefix}_gt`]: nullableDateTimeInput.optional(),
    [`${prefix}_lte`]: nullableDateTimeInput.optional(),
    [`${prefix}_lt`]: nullableDateTimeInput.optional(),
  } as Record<`${P}_${'gte' | 'gt' | 'lte' | 'lt'}`, z.ZodOptional<typeof nullableDateTimeInput>>;
}

const bodyPage = {
  page_offset: z.number().int().min(0).max(INT32_MAX).default(0),
  page_limit: z
    .number()
    .int()
    .min(0)
    .default(100)
    .transform((limit) => Math.min(limit, MAX_PAGE_LIMIT))
    .openapi({
      description: `Page size; values above ${MAX_PAGE_LIMIT} are served as ${MAX_PAGE_LIMIT}.`,
    }),
  order_by: z.string().nullable().optional(),
};

export const DAGRunsBatchBody = z
  .strictObject({
    ...bodyPage,
    dag_ids: z.array(z.string()).nullable().optional(),
    states: z.array(DagRunState.nullable()).nullable().optional(),
    ...bodyTimeRange('run_after'),
    ...bodyTimeRange('logical_date'),
    ...bodyTimeRange('start_date'),
    ...bodyTimeRange('end_date'),
  })
  .openapi('DAGRunsBatchBody');

const nullableNumber = z.number().nullable().optional();

export const TaskInstancesBatchBody = z
  .strictObject({
    dag_ids: z.array(z.string()).nullable().optional(),
    dag_run_ids: z.array(z.string()).nullable().optional(),
    task_ids: z.array(z.string()).nullable().optional(),
    state: z.array(TaskInstanceState.nullable()).nullable().optional(),
    ...bodyTimeRange('run_after'),
    ...bodyTimeRange('logical_date'),
    ...bodyTimeRange('start_date'),
    ...bodyTimeRange('end_date'),
    duration_gte: nullableNumber,
    duration_gt: nullableNumber,
    duration_lte: nullableNumber,
    duration_lt: nullableNumber,
    pool: z
      .array(z.string())
      .nullable()
      .optional()
      .openapi({ description: 'Every task instance is in `default_pool`.' }),
    queue: z
      .array(z.string())
      .nullable()
      .optional()
      .openapi({ description: 'Every task instance is in queue `default`.' }),
    executor: z
      .array(z.string())
      .nullable()
      .optional()
      .openapi({ description: 'Task instances name no executor: any value matches none.' }),
    ...bodyPage,
  })
  .openapi('TaskInstancesBatchBody');

/** Airflow accepts these states when an operator sets one (any case). */
export const SETTABLE_TI_STATES = ['success', 'failed', 'skipped'] as const;
const settableState = z.preprocess(
  (value) => (typeof value === 'string' ? value.toLowerCase() : value),
  z.enum(SETTABLE_TI_STATES, {
    error: (issue) =>
      `Value error, '${String(issue.input)}' is not one of ['success', 'failed', 'skipped']`,
  }),
);

const patchTaskInstanceFields = {
  new_state: settableState
    .nullable()
    .optional()
    .openapi({ type: 'string', enum: [...SETTABLE_TI_STATES] }),
  note: z.string().max(1000).nullable().optional(),
  include_upstream: z.boolean().default(false),
  include_downstream: z.boolean().default(false),
  include_future: z.boolean().default(false),
  include_past: z.boolean().default(false),
};

export const PatchTaskInstanceBody = z
  .strictObject(patchTaskInstanceFields)
  .openapi('PatchTaskInstanceBody');

export const BulkTaskInstanceBody = z
  .strictObject({
    ...patchTaskInstanceFields,
    task_id: z.string().min(1),
    map_index: z.number().int().min(INT32_MIN).max(INT32_MAX).nullable().optional(),
  })
  .openapi('BulkTaskInstanceBody');

const BulkActionOnExistence = z
  .enum(['fail', 'skip', 'overwrite'])
  .openapi('BulkActionOnExistence');
const BulkActionNotOnExistence = z.enum(['fail', 'skip']).openapi('BulkActionNotOnExistence');

export const BulkTaskInstanceAction = z.discriminatedUnion('action', [
  z
    .strictObject({
      action: z.literal('create'),
      entities: z.array(BulkTaskInstanceBody),
      action_on_existence: BulkActionOnExistence.default('fail'),
    })
    .openapi('BulkCreateAction_BulkTaskInstanceBody_'),
  z
    .strictObject({
      action: z.literal('update'),
      entities: z.array(BulkTaskInstanceBody),
      action_on_non_existence: BulkActionNotOnExistence.default('fail'),
    })
    .openapi('BulkUpdateAction_BulkTaskInstanceBody_'),
  z
    .strictObject({
      action: z.literal('delete'),
      entities: z.array(z.union([z.string().min(1), BulkTaskInstanceBody])),
      action_on_non_existence: BulkActionNotOnExistence.default('fail'),
    })
    .openapi('BulkDeleteAction_BulkTaskInstanceBody_'),
]);

export const BulkBodyTaskInstances = z
  .strictObject({ actions: z.array(BulkTaskInstanceAction) })
  .openapi('BulkBody_BulkTaskInstanceBody_');

export const BulkActionResponse = z
  .object({
    success: z.array(z.string()),
    errors: z.array(z.record(z.string(), z.unknown())),
  })
  .openapi('BulkActionResponse');

export const BulkResponse = z
  .object({
    create: BulkActionResponse.nullable(),
    update: BulkActionResponse.nullable(),
    delete: BulkActionResponse.nullable(),
  })
  .openapi('BulkResponse');

export const ClearTaskInstancesBody = z
  .strictObject({
    dry_run: z.boolean().default(true),
    start_date: nullableDateTimeInput.optional(),
    end_date: nullableDateTimeInput.optional(),
    only_failed: z.boolean().default(true),
    only_running: z.boolean().default(false),
    reset_dag_runs: z.boolean().default(true),
    task_ids: z
      .array(z.union([z.string(), z.tuple([z.string(), z.number().int()])]))
      .nullable()
      .optional(),
    dag_run_id: z.string().nullable().optional(),
    include_upstream: z.boolean().default(false),
    include_downstream: z.boolean().default(false),
    include_future: z.boolean().default(false),
    include_past: z.boolean().default(false),
    run_on_latest_version: z.boolean().default(false).openapi({
      description:
        "Accepted for compatibility, and true in effect: cleared task instances keep their version until the scheduler examines their run, which moves them to the DAG's latest version.",
    }),
  })
  .superRefine((body, ctx) => {
    if (body.only_failed && body.only_running)
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'Value error, only_failed and only_running both are set to True',
      });
    if (body.start_date && body.end_date && body.start_date > body.end_date)
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'Value error, start_date is after end_date',
      });
  })
  .openapi('ClearTaskInstancesBody');

export const TaskInstanceHistoryResponse = TaskInstanceResponse.omit({
  id: true,
  logical_date: true,
  run_after: true,
  note: true,
  rendered_map_index: true,
  rendered_fields: true,
  trigger: true,
  triggerer_job: true,
}).openapi('TaskInstanceHistoryResponse');

export const TaskInstanceHistoryCollectionResponse = z
  .object({
    task_instances: z.array(TaskInstanceHistoryResponse),
    total_entries: z.number().int(),
  })
  .openapi('TaskInstanceHistoryCollectionResponse');

export const TaskDependencyResponse = z
  .object({ name: z.string(), reason: z.string() })
  .openapi('TaskDependencyResponse');

export const TaskDependencyCollectionResponse = z
  .object({ dependencies: z.array(TaskDependencyResponse) })
  .openapi('TaskDependencyCollectionResponse');

export const taskInstanceMapParams = taskInstanceParams.extend({ map_index: int32Param });
export const taskTryParams = taskInstanceParams.extend({ task_try_number: int32Param });
export const taskMapTryParams = taskInstanceMapParams.extend({ task_try_number: int32Param });
