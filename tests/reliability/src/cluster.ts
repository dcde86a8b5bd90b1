/**
 * Real processes for the reliability scenarios: API servers and schedulers started as
 * `node --import tsx apps/<app>/src/main.ts`, every line they print kept (for log assertions and
 * the token grep), and an embedded PostgreSQL of a test's own when it must be stopped and started
 * again.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedServer } from '@dagbag/db';
import { migrateDatabase } from '@dagbag/db/migrate';

export const FULL = process.env.RELIABILITY_FULL === '1';
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const APP_DIRS = {
  api: join(REPO_ROOT, 'apps', 'api'),
  scheduler: join(REPO_ROOT, 'apps', 'scheduler'),
};

import { freePort } from '@dagbag/config/testing/free-port';
import { spawnTsx } from '@dagbag/config/testing/spawn-tsx';

export { freePort };

export interface Child {
  name: string;
  kind: 'api' | 'scheduler';
  process: ChildProcess;
  pid: number;
  /** Everything it printed so far. */
  output(): string;
  /** Its JSON log lines, parsed (lines that are not JSON are skipped). */
  logLines(): Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
}

export interface ApiChild extends Child {
  url: string;
  port: number;
}

/** Every child any test in this file started: stopped by `stopAll`, grepped for tokens. */
const started: Child[] = [];

function spawnApp(kind: 'api' | 'scheduler', name: string, env: Record<string, string>): Child {
  const {
    process: child,
    output,
    exited,
  } = spawnTsx('src/main.ts', {
    cwd: APP_DIRS[kind],
    env: { NODE_ENV: 'production', LOG_LEVEL: 'info', OTEL_SDK_DISABLED: 'false', ...env },
  });
  const result: Child = {
    name,
    kind,
    process: child,
    pid: child.pid!,
    output,
    logLines: () =>
      output()
        .split('\n')
        .flatMap((line) => {
          if (!line.startsWith('{')) return [];
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
  };
  started.push(result);
  return result;
}

export async function startScheduler(name: string, env: Record<string, string>): Promise<Child> {
  return spawnApp('scheduler', name, { METRICS_PORT: String(await freePort()), ...env });
}

/** Starts an API and waits until its health endpoint answers. */
export async function startApi(
  name: string,
  env: Record<string, string>,
  options: { port?: number; host?: string } = {},
): Promise<ApiChild> {
  const port = options.port ?? (await freePort());
  const child = spawnApp('api', name, {
    API_PORT: String(port),
    METRICS_PORT: String(await freePort()),
    ...env,
  });
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!child.alive()) throw new Error(`${name} exited before it listened:\n${child.output()}`);
    try {
      const response = await fetch(`${url}/api/v2/monitor/health`, {
        signal: AbortSignal.timeout(2000),
      });
      await response.arrayBuffer();
      break;
    } catch {
      if (Date.now() > deadline)
        throw new Error(`${name} did not listen within 60 s:\n${child.output()}`);
      await sleep(100);
    }
  }
  return { ...child, url, port };
}

export async function stopChild(
  child: Child,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 15_000,
): Promise<void> {
  if (!child.alive()) return;
  child.process.kill(signal);
  const timer = setTimeout(() => child.process.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

export interface ScenarioFolder {
  /** DATA_DIR of the scenario's apps. */
  workDir: string;
  /** An empty `dags/` inside it, for DAGS_FOLDER. */
  dagsFolder: string;
}

export async function scenarioFolder(scenario: string): Promise<ScenarioFolder> {
  const workDir = await mkdtemp(join(tmpdir(), `dagbag-reliability-${scenario}-`));
  const dagsFolder = join(workDir, 'dags');
  await mkdir(dagsFolder);
  return { workDir, dagsFolder };
}

/**
 * The variables every app of a scenario shares (fast scans and loops); `extra` adds or overrides.
 */
export function scenarioEnv(
  databaseUrl: string,
  folder: ScenarioFolder,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    DAGS_FOLDER: folder.dagsFolder,
    DATA_DIR: folder.workDir,
    DAG_DIR_SCAN_SECONDS: '1',
    SCHEDULER_LOOP_INTERVAL_MS: '100',
    ...extra,
  };
}

/**
 * A scenario's afterAll: stops its children, then releases its database and folder and runs
 * `then` (recording its results) even when stopping failed.
 */
export async function tearDownScenario(options: {
  releaseDatabase: () => Promise<unknown> | undefined;
  workDir: string | undefined;
  then?: () => void;
}): Promise<void> {
  try {
    await stopAll();
  } finally {
    await options.releaseDatabase();
    if (options.workDir) await rm(options.workDir, { recursive: true, force: true });
    options.then?.();
  }
}

/** Stops every child this file started (SIGTERM, then SIGKILL) and proves none is left. */
export async function stopAll(): Promise<void> {
  await Promise.all(started.map((child) => stopChild(child, 'SIGTERM', 10_000)));
  for (const child of started) {
    if (isProcessAlive(child.pid))
      throw new Error(`${child.name} (pid ${child.pid}) is still running`);
  }
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitFor(
  what: string,
  done: () => Promise<boolean> | boolean,
  timeoutMs: number,
  stepMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}

/** An HTTP client of one API with a bearer token; never throws on an HTTP status. */
export function client(baseUrl: string, token: string) {
  return async (
    path: string,
    init: {
      method?: string;
      json?: unknown;
      body?: string;
      token?: string | null;
      timeoutMs?: number;
      headers?: Record<string, string>;
    } = {},
  ) => {
    const headers = new Headers(init.headers);
    const bearer = init.token === undefined ? token : init.token;
    if (bearer !== null) headers.set('authorization', `Bearer ${bearer}`);
    if (init.json !== undefined) headers.set('content-type', 'application/json');
    const response = await fetch(`${baseUrl}${path}`, {
      method: init.method ?? 'GET',
      headers,
      body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
      signal: AbortSignal.timeout(init.timeoutMs ?? 30_000),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    return {
      status: response.status,
      body: body as Record<string, unknown> & { detail?: unknown },
    };
  };
}

/**
 * A migrated database on an embedded PostgreSQL of the test's own, which it may stop and restart.
 */
export interface OwnPostgres {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dagbag-reliability-pg-'));
  const port = await freePort();
  const flags = [
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'max_connections=300',
  ];
  let server: EmbeddedServer | undefined = await startEmbeddedPostgres({
    dataDir,
    port,
    postgresFlags: flags,
  });
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query('CREATE DATABASE reliability');
  await admin.end();
  const url = server.urlFor('reliability');
  await migrateDatabase(url);
  return {
    url,
    port,
    dataDir,
    async stop() {
      await server?.stop();
      server = undefined;
    },
    async start() {
      server = await startEmbeddedPostgres({ dataDir, port, postgresFlags: flags });
    },
    async close() {
      await server?.stop();
      server = undefined;
      await rm(dataDir, { recursive: true, force: true });
      await rm(`${dataDir}.password`, { force: true });
    },
  };
}

/** Resident set size of a process, in bytes (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** Local addresses of the TCP sockets listening on `port` (from /proc/net/tcp and tcp6). */
export function listeningAddresses(port: number): string[] {
  const addresses: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4 || fields[3] !== '0A') continue; // 0A = LISTEN
      const [hexAddress, hexPort] = fields[1]!.split(':') as [string, string];
      if (parseInt(hexPort, 16) !== port) continue;
      addresses.push(decodeAddress(hexAddress));
    }
  }
  return addresses;
}

function decodeAddress(hex: string): string {
  if (hex.length === 8) {
    return [0, 1, 2, 3].map((i) => parseInt(hex.slice(6 - 2 * i, 8 - 2 * i), 16)).join('.');
  }
  // IPv6: four little-endian 32-bit words
  const words = [0, 1, 2, 3].map((w) =>
    hex
      .slice(w * 8, w * 8 + 8)
      .match(/../g)!
      .reverse()
      .join(''),
  );
  const groups = words
    .join('')
    .match(/..../g)!
    .map((g) => parseInt(g, 16).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/** The token strings found in any captured output of any child (must be none). */
export function tokensInLogs(tokens: readonly string[]): { child: string; token: string }[] {
  const found: { child: string; token: string }[] = [];
  for (const child of started) {
    for (const token of tokens)
      if (child.output().includes(token)) found.push({ child: child.name, token });
  }
  return found;
}

/** Runs `task` over `items` with at most `concurrency` at once. */
export async function pool<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        await task(items[index]!, index);
      }
    }),
  );
}
