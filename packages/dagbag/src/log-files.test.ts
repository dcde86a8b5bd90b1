import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeRunLogs } from './log-files.ts';
import { taskLogPath } from './log-path.ts';

// A task runs as the scheduler's user and can write under the logs folder: it can put a link
// where a DAG's or a run's log folder would be.
let base: string;
let logsRoot: string;
let outside: string;
const ids = { dagId: 'd', runId: 'r', taskId: 't', tryNumber: 1 };

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'dagbag-log-files-'));
  logsRoot = join(base, 'logs');
  outside = join(base, 'outside');
  mkdirSync(join(logsRoot, 'd', 'r', 't'), { recursive: true });
  mkdirSync(outside);
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

describe("removing a run's task logs", () => {
  it("removes nothing outside the logs folder when a DAG's log folder is a link", async () => {
    mkdirSync(join(outside, 'r'));
    rmSync(join(logsRoot, 'd'), { recursive: true });
    symlinkSync(outside, join(logsRoot, 'd'));
    expect(await removeRunLogs(logsRoot, { dagId: 'd', runId: 'r' })).toBe(false);
    expect(existsSync(join(outside, 'r'))).toBe(true);
  });

  it("removes a run's logs inside the logs folder, and says so", async () => {
    writeFileSync(taskLogPath(logsRoot, ids), 'hello\n');
    expect(await removeRunLogs(logsRoot, { dagId: 'd', runId: 'r' })).toBe(true);
    expect(existsSync(join(logsRoot, 'd', 'r'))).toBe(false);
  });

  it('reports a run that never logged as nothing removed', async () => {
    expect(await removeRunLogs(logsRoot, { dagId: 'd', runId: 'never' })).toBe(false);
    expect(await removeRunLogs(join(base, 'no-logs-folder'), { dagId: 'd', runId: 'r' })).toBe(
      false,
    );
  });
});
