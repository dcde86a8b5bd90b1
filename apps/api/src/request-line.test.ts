import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '@dagbag/logger';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestLine } from './request-line.ts';

const lines: Record<string, any>[] = [];
const samples: { status: number; seconds: number }[] = [];
let server: ReturnType<ReturnType<typeof express>['listen']>;
let url: string;

beforeAll(async () => {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, any>);
      done();
    },
  });
  const logger = createLogger({ name: 'api', destination });
  const app = express();
  app.use(
    requestLine(app, logger, (_req, res, seconds) =>
      samples.push({ status: res.statusCode, seconds }),
    ),
  );
  app.get('/ok', (_req, res) => res.json({ ok: true }));
  app.get('/noted', (req, res) => {
    req.log.warn({ detail: 1 }, 'a note about this request');
    res.json({});
  });
  app.get('/broken', (_req, res) => {
    (res as unknown as { err: Error }).err = new Error('the cause');
    res.status(500).json({ detail: 'Internal Server Error' });
  });
  await new Promise<void>((resolve) => {
    server = app.listen(0, '127.0.0.1', () => resolve());
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function lineOf(id: string): Promise<Record<string, any> | undefined> {
  for (let i = 0; i < 50; i++) {
    const line = lines.find((l) => l.req?.id === id && /^request /.test(String(l.msg)));
    if (line) return line;
    await sleep(20);
  }
  return undefined;
}

describe('the request line', () => {
  it('answers with the request id, nosniff and no-store, and records one duration sample', async () => {
    const before = samples.length;
    const response = await fetch(`${url}/ok`, { headers: { 'x-request-id': 'line-1' } });
    expect(response.headers.get('x-request-id')).toBe('line-1');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await lineOf('line-1')).toMatchObject({
      level: 30,
      req: { id: 'line-1', method: 'GET', url: '/ok' },
      res: { statusCode: 200 },
      msg: 'request completed',
    });
    expect(samples.slice(before).map((sample) => sample.status)).toEqual([200]);
  });

  it("logs a 5xx as 'request errored' at error level with its cause", async () => {
    await fetch(`${url}/broken`, { headers: { 'x-request-id': 'line-2' } });
    const line = await lineOf('line-2');
    expect(line).toMatchObject({ level: 50, res: { statusCode: 500 }, msg: 'request errored' });
    expect(line?.err.message).toBe('the cause');
  });

  it("gives a handler's own lines the request's fields through req.log", async () => {
    await fetch(`${url}/noted?x=1`, { headers: { 'x-request-id': 'line-3' } });
    await lineOf('line-3');
    expect(lines.find((l) => l.msg === 'a note about this request')).toMatchObject({
      level: 40,
      req: { id: 'line-3', method: 'GET', url: '/noted?x=1' },
      detail: 1,
    });
  });
});
