import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readConfig } from '@dagbag/config';
import { prettyFactory } from 'pino-pretty';
import { LOGGER_SETTINGS, PRETTY_OPTIONS, createLogger } from './index.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('writes JSON lines carrying the component name', () => {
    const { lines, destination } = capture();
    createLogger({ name: 'scheduler', level: 'info', destination }).info({ runs: 3 }, 'loop done');
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ name: 'scheduler', msg: 'loop done', runs: 3 });
  });

  it('redacts authorization headers and tokens', () => {
    const { lines, destination } = capture();
    createLogger({ name: 'api', level: 'info', destination }).info(
      { req: { headers: { authorization: 'Bearer secret-token' } }, token: 'secret-token' },
      'request',
    );
    expect(lines.join('')).not.toContain('secret-token');
    expect(lines.join('')).toContain('[redacted]');
  });

  it('takes its level from the caller and reads no environment', () => {
    const saved = process.env.LOG_LEVEL;
    process.env.LOG_LEVEL = 'silent';
    try {
      const { lines, destination } = capture();
      createLogger({ name: 'api', destination }).info('still logged at the default level');
      createLogger({ name: 'api', level: 'warn', destination }).info('below warn');
      expect(lines).toHaveLength(1);
    } finally {
      if (saved === undefined) delete process.env.LOG_LEVEL;
      else process.env.LOG_LEVEL = saved;
    }
  });
});

describe('readable lines (LOG_FORMAT=pretty)', () => {
  const format = prettyFactory({ ...PRETTY_OPTIONS, colorize: false });
  const line = (fields: object) =>
    format(JSON.stringify({ level: 30, time: 0, name: 'api', pid: 1, hostname: 'h', ...fields }));

  it('put a request on one line: message, method, url, status and time', () => {
    const text = line({
      req: { id: 'abc', method: 'GET', url: '/api/v2/dags?limit=5' },
      res: { statusCode: 200 },
      responseTime: 8,
      msg: 'request completed',
    });
    // Ten lines before: the req and res objects printed in full.
    expect(text.trim().split('\n')).toHaveLength(1);
    expect(text).toContain('INFO (api): request completed GET /api/v2/dags?limit=5 200 8 ms');
  });

  it('keep the other fields of a line, and a line without a request as it was', () => {
    const text = line({ msg: 'run finished', dagId: 'etl', state: 'success' });
    expect(text).toContain('INFO (api): run finished\n');
    expect(text).toContain('dagId: "etl"');
  });
});

describe('the buffered stdout', () => {
  it('lets the process exit when the reader of its stdout is gone (Ctrl-C on `... | tee`)', async () => {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'testing/log-then-exit.ts')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await once(child.stdout, 'data');
    // The reader goes away, as tee does on the Ctrl-C that also reaches the app.
    child.stdout.destroy();
    child.kill('SIGINT');
    // On sonic-boom 4 the flush at exit wrote into the broken pipe forever: no exit at all.
    const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
    const timeout = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000));
    const outcome = await Promise.race([exited, timeout]);
    if (outcome === 'hung') child.kill('SIGKILL');
    expect(outcome).toEqual([0, null]);
    expect(stderr).toBe('');
  }, 30_000);
});

describe('LOGGER_SETTINGS', () => {
  it('refuse a level pino does not have, naming LOG_LEVEL and the levels', () => {
    expect(() => readConfig(LOGGER_SETTINGS, { LOG_LEVEL: 'verbose' })).toThrowError(
      /LOG_LEVEL: must be trace, debug, info, warn, error, fatal, silent/,
    );
  });
});
