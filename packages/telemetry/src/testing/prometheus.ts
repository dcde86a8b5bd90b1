import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@dagbag/config/testing/free-port';

/** One sample of an instant-query result from the Prometheus HTTP API. */
export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusHarness {
  readonly url: string;
  /** Runs an instant query (`/api/v1/query`); throws with Prometheus's error text on bad PromQL. */
  query(expr: string): Promise<PromSample[]>;
  /**
   * Resolves once every target has been scraped successfully at least `scrapes` times (default 2,
   * enough for rate()).
   */
  waitForScrapes(scrapes?: number, timeoutMs?: number): Promise<void>;
  /**
   * Resolves once every target has been scraped successfully by a scrape that started after
   * `sinceMs` (epoch ms, default now): whatever the targets counted before then is stored.
   */
  waitForScrapeAfter(sinceMs?: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface StartPrometheusOptions {
  /** `host:port` targets serving `/metrics`, scraped every second. */
  targets: string[];
  /** The binary; default `prometheus` on PATH (Debian's package). */
  binary?: string;
  readyTimeoutMs?: number;
}

/** Whether a `prometheus` binary can be run here (tests skip with a message when not). */
export function prometheusAvailable(binary = 'prometheus'): boolean {
  return spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Starts a real Prometheus on a free loopback port with a generated config and a throwaway
 * TSDB, waits until it is ready, and stops it (and deletes its data) on `stop()`.
 */
export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'dagbag-prometheus-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 900ms',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: dagbag',
    '    static_configs:',
    `      - targets: [${options.targets.map((target) => JSON.stringify(target)).join(', ')}]`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), config);

  const child: ChildProcess = spawn(
    options.binary ?? 'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  let running = true;
  void exited.then(() => (running = false));

  async function stop() {
    if (running) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  }

  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
  for (;;) {
    if (!running) {
      await stop();
      throw new Error(`prometheus exited before it was ready:\n${stderr}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `prometheus was not ready within ${options.readyTimeoutMs ?? 15_000} ms:\n${stderr}`,
      );
    }
    await sleep(100);
  }

  async function query(expr: string): Promise<PromSample[]> {
    const response = await fetch(
      `${url}/api/v1/query?${new URLSearchParams({ query: expr }).toString()}`,
    );
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: PromSample[] };
    };
    if (body.status !== 'success' || !body.data)
      throw new Error(`PromQL failed: ${expr}\n${body.error ?? response.status}`);
    if (body.data.resultType !== 'vector')
      throw new Error(`expected a vector from ${expr}, got ${body.data.resultType}`);
    return body.data.result;
  }

  async function waitForScrapes(scrapes = 2, timeoutMs = 10_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      // `up` is 1 per successful scrape and 0 per failed one: its sum counts the successful ones.
      const samples = await query('sum_over_time(up[1m]) and on(instance) up == 1');
      const done = options.targets.every((target) =>
        samples.some((s) => s.metric.instance === target && Number(s.value[1]) >= scrapes),
      );
      if (done) return;
      if (Date.now() > until)
        throw new Error(
          `targets were not scraped ${scrapes} times within ${timeoutMs} ms: ${JSON.stringify(samples)}`,
        );
      await sleep(250);
    }
  }

  async function waitForScrapeAfter(sinceMs = Date.now(), timeoutMs = 10_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      // A sample's timestamp is the moment its scrape started. timestamp() needs the selector
      // itself: of any other expression (`up == 1`) it returns the evaluation time.
      const samples = await query('timestamp(up) and up == 1');
      const done = options.targets.every((target) =>
        samples.some((s) => s.metric.instance === target && Number(s.value[1]) * 1000 > sinceMs),
      );
      if (done) return;
      if (Date.now() > until)
        throw new Error(
          `targets were not scraped after ${new Date(sinceMs).toISOString()} within ${timeoutMs} ms: ${JSON.stringify(samples)}`,
        );
      await sleep(200);
    }
  }

  return { url, query, waitForScrapes, waitForScrapeAfter, stop };
}
