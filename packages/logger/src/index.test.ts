import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './index.ts';

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
});
