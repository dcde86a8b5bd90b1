/**
 * Test and benchmark helpers (`@dagbag/dagbag/testing`): a realistic DAG generator, a controlled
 * clock and an in-memory loader. Nothing here is meant for production paths.
 */
import type {
  Clock,
  DagVersionLoader,
  DagVersionRow,
  ResolvedVersion,
  VersionRef,
} from './dagbag.ts';
import { dagDocumentSchema, dagHash, type DagDocument, type DagDocumentInput } from './document.ts';
import { serializedSize } from './weight.ts';

/** mulberry32: small, fast and deterministic, so a seed always gives the same document. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DOMAINS = [
  'orders',
  'payments',
  'customers',
  'inventory',
  'shipments',
  'marketing',
  'clickstream',
  'billing',
  'support',
  'ledger',
];
const STEPS = [
  'extract',
  'validate',
  'clean',
  'dedupe',
  'enrich',
  'join',
  'aggregate',
  'load',
  'publish',
  'snapshot',
  'reconcile',
  'export',
];
const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1', 'us-west-2'];
const TOOLS = [
  'python3 /opt/pipelines/{d}/{s}.py',
  'dbt run --select {d}_{s} --target prod',
  'spark-submit --deploy-mode cluster /opt/jobs/{d}/{s}.jar',
  'psql "$WAREHOUSE_URL" -v ON_ERROR_STOP=1 -f /opt/sql/{d}/{s}.sql',
  'aws s3 sync s3://raw-{d}/{s}/ /data/{d}/{s}/ --only-show-errors',
];
const SENTENCES = [
  'Pulls the previous day of {d} from the operational replica and lands it as partitioned parquet.',
  'Owned by the data platform team; page #data-oncall if this fails twice in a row.',
  'Downstream dashboards read the published tables at 06:00 UTC, so keep the runtime under an hour.',
  'Late-arriving {d} events are merged by the reconcile step using the event id as the key.',
  'The warehouse credentials come from the connection configured for this environment.',
];

export interface MakeDagOptions {
  /** Number of tasks (default 20). Ignored when `targetBytes` is given. */
  taskCount?: number;
  /** Grow the DAG until its JSON reaches about this many bytes (e.g. 20_000 to 60_000). */
  targetBytes?: number;
  seed?: number;
  dagId?: string;
  schedule?: string | null;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function fill(template: string, domain: string, step: string): string {
  return template.replaceAll('{d}', domain).replaceAll('{s}', step);
}

function bashCommand(random: () => number, domain: string, step: string): string {
  const lines = ['set -euo pipefail', `export RUN_DATE="$(date -u +%Y-%m-%d)"`];
  const steps = 1 + Math.floor(random() * 4);
  for (let i = 0; i < steps; i++) {
    const flags = [`--date "$RUN_DATE"`, `--region ${pick(random, REGIONS)}`];
    if (random() < 0.6) flags.push(`--output s3://warehouse-${domain}/${step}/dt=$RUN_DATE/`);
    if (random() < 0.4) flags.push(`--max-records ${1000 * (1 + Math.floor(random() * 500))}`);
    if (random() < 0.3) flags.push('--fail-on-empty');
    lines.push(`${fill(pick(random, TOOLS), domain, step)} ${flags.join(' ')}`);
  }
  if (random() < 0.5) lines.push(`echo "${step} of ${domain} finished for $RUN_DATE"`);
  return lines.join('\n');
}

interface GeneratedTask {
  task_id: string;
  operator: 'bash' | 'empty';
  bash_command?: string;
  upstream: string[];
  trigger_rule?: DagDocumentInput['tasks'][number]['trigger_rule'];
  retries?: number;
  retry_delay_seconds?: number;
  execution_timeout_seconds?: number;
}

/**
 * A realistic, valid DAG document: layered fan-out/fan-in between a few domains, multi-line bash
 * commands, descriptions and tags. The same options always give the same document.
 */
export function makeDagDocument(options: MakeDagOptions = {}): DagDocument {
  const seed = options.seed ?? 1;
  const random = seededRandom(seed);
  const domain = pick(random, DOMAINS);
  const dagId = options.dagId ?? `${domain}_${pick(random, STEPS)}_pipeline_${seed}`;
  const tasks: GeneratedTask[] = [];
  let bytes = 400;
  const wanted =
    options.targetBytes === undefined ? (options.taskCount ?? 20) : Number.POSITIVE_INFINITY;
  // Layers of 1 to 6 tasks; each task depends on one to three tasks of the layer before.
  let previousLayer: string[] = [];
  let layer: string[] = [];
  let layerSize = 1;
  while (
    tasks.length < wanted &&
    (options.targetBytes === undefined || bytes < options.targetBytes)
  ) {
    if (layer.length >= layerSize) {
      previousLayer = layer;
      layer = [];
      layerSize = 1 + Math.floor(random() * 6);
    }
    const taskDomain = random() < 0.7 ? domain : pick(random, DOMAINS);
    const step = pick(random, STEPS);
    const taskId = `${step}_${taskDomain}_${String(tasks.length).padStart(3, '0')}`;
    const upstream: string[] = [];
    const fanIn = Math.min(previousLayer.length, 1 + Math.floor(random() * 3));
    while (upstream.length < fanIn) {
      const candidate = pick(random, previousLayer);
      if (!upstream.includes(candidate)) upstream.push(candidate);
    }
    const isEmpty = random() < 0.12;
    const task: GeneratedTask = isEmpty
      ? { task_id: taskId, operator: 'empty', upstream }
      : {
          task_id: taskId,
          operator: 'bash',
          bash_command: bashCommand(random, taskDomain, step),
          upstream,
        };
    if (!isEmpty && random() < 0.6) {
      task.retries = 1 + Math.floor(random() * 3);
      task.retry_delay_seconds = 60 * (1 + Math.floor(random() * 10));
    }
    if (!isEmpty && random() < 0.4)
      task.execution_timeout_seconds = 300 * (1 + Math.floor(random() * 12));
    if (upstream.length > 1 && random() < 0.3)
      task.trigger_rule = pick(random, ['all_done', 'none_failed', 'one_success'] as const);
    tasks.push(task);
    layer.push(taskId);
    bytes += JSON.stringify(task).length + 1;
  }
  const input: DagDocumentInput = {
    dag_id: dagId,
    description: Array.from({ length: 1 + Math.floor(random() * 3) }, () =>
      fill(pick(random, SENTENCES), domain, ''),
    ).join(' '),
    schedule:
      options.schedule === undefined
        ? pick(random, ['@daily', '@hourly', '0 3 * * *', '*/30 * * * *', null])
        : options.schedule,
    start_date: '2026-01-01T00:00:00Z',
    max_active_runs: pick(random, [1, 4, 16]),
    catchup: false,
    tags: [
      domain,
      pick(random, ['etl', 'reporting', 'ml', 'compliance']),
      `team-${pick(random, ['platform', 'finance', 'growth'])}`,
    ],
    tasks,
  };
  return dagDocumentSchema.parse(input);
}

/**
 * A clock that only moves when told to. Starts well above 0 (lru-cache reads a 0 start as "no
 * TTL").
 */
export class ManualClock implements Clock {
  private time: number;
  constructor(time = 1_000_000) {
    this.time = time;
  }
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
  advanceSeconds(seconds: number): void {
    this.time += seconds * 1000;
  }
}

export interface MemoryLoaderCalls {
  /** Queries by id (one per batch). */
  loadVersions: number;
  /** Ids asked for over all those queries. */
  versionsRequested: number;
  loadVersionsByNumber: number;
  resolveVersion: number;
  /** resolveVersion answers that carried the document (the version was not among `known`). */
  resolvedWithDocument: number;
  readHash: number;
  readHashes: number;
  activeVersionIds: number;
  loadActiveVersions: number;
}

/** What the memory loader stores per version: the row with its document as a value. */
export type MemoryRow = Omit<DagVersionRow, 'dataText'> & { data: unknown };

/** An in-memory DagVersionLoader that counts its calls; answers on the next microtask. */
export class MemoryDagVersionLoader implements DagVersionLoader {
  readonly rows = new Map<string, MemoryRow>();
  readonly runs = new Map<string, string>();
  active: Set<string> | undefined;
  readonly calls: MemoryLoaderCalls = {
    loadVersions: 0,
    versionsRequested: 0,
    loadVersionsByNumber: 0,
    resolveVersion: 0,
    resolvedWithDocument: 0,
    readHash: 0,
    readHashes: 0,
    activeVersionIds: 0,
    loadActiveVersions: 0,
  };
  private nextNumber = new Map<string, number>();

  /**
   * Stores `document` as a new version; returns its row. `serializedBytes` can be forced (weights).
   */
  add(
    document: DagDocument,
    options: { versionId?: string; serializedBytes?: number } = {},
  ): MemoryRow {
    const versionNumber = (this.nextNumber.get(document.dag_id) ?? 0) + 1;
    this.nextNumber.set(document.dag_id, versionNumber);
    const row: MemoryRow = {
      versionId: options.versionId ?? `${document.dag_id}@${versionNumber}`,
      dagId: document.dag_id,
      versionNumber,
      dagHash: dagHash(document),
      data: document,
      serializedBytes: options.serializedBytes ?? serializedSize(document),
      createdAt: new Date(Date.UTC(2026, 0, 1) + versionNumber * 60_000),
    };
    this.rows.set(row.versionId, row);
    return row;
  }

  /** Replaces a version's document in place (as the processor may before any task used it). */
  replace(versionId: string, document: DagDocument): void {
    const row = this.rows.get(versionId);
    if (!row) throw new Error(`no version ${versionId}`);
    this.rows.set(versionId, {
      ...row,
      data: document,
      dagHash: dagHash(document),
      serializedBytes: serializedSize(document),
    });
  }

  delete(versionId: string): void {
    this.rows.delete(versionId);
  }

  private static toRow({ data, ...row }: MemoryRow): DagVersionRow {
    return { ...row, dataText: JSON.stringify(data) };
  }

  async loadVersions(versionIds: readonly string[]): Promise<DagVersionRow[]> {
    this.calls.loadVersions++;
    this.calls.versionsRequested += versionIds.length;
    await Promise.resolve();
    const rows: DagVersionRow[] = [];
    for (const id of versionIds) {
      const row = this.rows.get(id);
      if (row) rows.push(MemoryDagVersionLoader.toRow(row));
    }
    return rows;
  }

  async loadVersionsByNumber(
    refs: readonly { dagId: string; versionNumber: number }[],
  ): Promise<DagVersionRow[]> {
    this.calls.loadVersionsByNumber++;
    await Promise.resolve();
    const rows: DagVersionRow[] = [];
    for (const row of this.rows.values())
      if (refs.some((ref) => ref.dagId === row.dagId && ref.versionNumber === row.versionNumber))
        rows.push(MemoryDagVersionLoader.toRow(row));
    return rows;
  }

  async resolveVersion(ref: VersionRef, known: readonly string[]): Promise<ResolvedVersion | null> {
    this.calls.resolveVersion++;
    await Promise.resolve();
    let row: MemoryRow | undefined;
    if ('runId' in ref) {
      const id = this.runs.get(`${ref.dagId}/${ref.runId}`);
      row = id === undefined ? undefined : this.rows.get(id);
    } else {
      for (const candidate of this.rows.values())
        if (candidate.dagId === ref.dagId && (!row || candidate.versionNumber > row.versionNumber))
          row = candidate;
    }
    if (row === undefined) return null;
    if (known.includes(row.versionId)) {
      const { data: _data, ...rest } = row;
      return { ...rest, dataText: null };
    }
    this.calls.resolvedWithDocument++;
    return MemoryDagVersionLoader.toRow(row);
  }

  async readHash(versionId: string): Promise<string | null> {
    this.calls.readHash++;
    await Promise.resolve();
    return this.rows.get(versionId)?.dagHash ?? null;
  }

  async readHashes(versionIds: readonly string[]): Promise<ReadonlyMap<string, string>> {
    this.calls.readHashes++;
    await Promise.resolve();
    const hashes = new Map<string, string>();
    for (const id of versionIds) {
      const row = this.rows.get(id);
      if (row) hashes.set(id, row.dagHash);
    }
    return hashes;
  }

  activeVersionIds(): Promise<Iterable<string>> {
    this.calls.activeVersionIds++;
    return Promise.resolve(this.active ?? this.rows.keys());
  }

  async loadActiveVersions(): Promise<DagVersionRow[]> {
    this.calls.loadActiveVersions++;
    await Promise.resolve();
    const ids = this.active ?? new Set(this.rows.keys());
    return [...ids].flatMap((id) => {
      const row = this.rows.get(id);
      return row ? [MemoryDagVersionLoader.toRow(row)] : [];
    });
  }
}
