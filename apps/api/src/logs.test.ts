import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { taskLogPath } from '@dagbag/dagbag';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readLogPage } from './logs.ts';

// A task runs as the scheduler's user and can write under the logs folder: it can put a link, or
// a named pipe, where the API will look for a try's log.
let base: string;
let logsRoot: string;
let outside: string;
const ids = { dagId: 'd', runId: 'r', taskId: 't', tryNumber: 1 };

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'dagbag-logs-'));
  logsRoot = join(base, 'logs');
  outside = join(base, 'outside');
  mkdirSync(join(logsRoot, 'd', 'r', 't'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'a file of the API host\n');
  writeFileSync(join(outside, '1.log'), 'a file of the API host\n');
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

describe('task logs the API reads', () => {
  it('serves a plain log file inside the logs folder', async () => {
    writeFileSync(taskLogPath(logsRoot, ids), 'hello\n');
    const page = await readLogPage(logsRoot, taskLogPath(logsRoot, ids), 0, 1024);
    expect(page).toEqual({ lines: ['hello'], nextOffset: 6, atEnd: true });
  });

  it("serves no file outside the logs folder through a link put in place of a try's log", async () => {
    symlinkSync(join(outside, 'secret'), taskLogPath(logsRoot, ids));
    const page = await readLogPage(logsRoot, taskLogPath(logsRoot, ids), 0, 1024);
    expect(page.lines).toEqual([]);
    expect(page.refused).toMatch(/symbolic link/);
  });

  it("serves no file outside the logs folder through a linked folder on the way to a try's log", async () => {
    rmSync(join(logsRoot, 'd', 'r', 't'), { recursive: true });
    symlinkSync(outside, join(logsRoot, 'd', 'r', 't'));
    const page = await readLogPage(logsRoot, taskLogPath(logsRoot, ids), 0, 1024);
    expect(page.lines).toEqual([]);
    expect(page.refused).toMatch(/outside the logs folder/);
  });

  it("does not wait on a named pipe put in place of a try's log", async () => {
    execFileSync('mkfifo', [taskLogPath(logsRoot, ids)]);
    // Opened for reading without a writer, a pipe blocked one of the few threads of libuv's pool
    // for good: four such requests stopped every file and DNS operation of the API.
    const page = await readLogPage(logsRoot, taskLogPath(logsRoot, ids), 0, 1024);
    expect(page.lines).toEqual([]);
    expect(page.refused).toMatch(/not a plain file/);
  });
});
