import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '@dagbag/db/testing';
import { silentLogger } from '@dagbag/logger';
import { DagFileProcessor } from '@dagbag/scheduler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, runCli } from './testing/run-cli.ts';

const CORPUS = fileURLToPath(new URL('../../../tests/reliability/corpus/', import.meta.url));

let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'dagbag-cli-validate-'));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('dags validate', () => {
  it('reports each malformed file of a folder at its line and exits 1', async () => {
    const folder = join(workDir, 'malformed');
    await mkdir(join(folder, 'nested'), { recursive: true });
    await writeFile(join(folder, 'syntax.json'), '{\n  "dag_id": "a",\n  "tasks": [,]\n}\n');
    await writeFile(
      join(folder, 'nested', 'operator.yaml'),
      'dag_id: b\ntasks:\n  - task_id: t\n    operator: python\n',
    );
    await writeFile(
      join(folder, 'cron.json'),
      JSON.stringify(
        { dag_id: 'c', schedule: 'every day', start_date: '2026-01-01T00:00:00Z', tasks: [] },
        null,
        2,
      ),
    );
    await writeFile(join(folder, 'fine.json'), JSON.stringify({ dag_id: 'd', tasks: [] }));

    const result = await runCli(['dags', 'validate', 'malformed'], { cwd: workDir });

    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^malformed\/cron\.json:3:3: schedule: invalid cron expression "every day"/,
    );
    expect(lines[1]).toMatch(
      /^malformed\/nested\/operator\.yaml:4:5: tasks\[0\]\.operator: unknown operator "python"/,
    );
    expect(lines[2]).toMatch(/^malformed\/syntax\.json:3:13: invalid JSON/);
    expect(result.stderr).toContain('4 file(s) checked, 3 with errors');
  });

  it('says on stderr which file a running scheduler keeps when two files share a dag_id', async () => {
    const folder = join(workDir, 'shared-id');
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'a_copy.json'), JSON.stringify({ dag_id: 'same', tasks: [] }));
    await writeFile(join(folder, 'b.json'), JSON.stringify({ dag_id: 'same', tasks: [] }));

    const result = await runCli(['dags', 'validate', 'shared-id'], { cwd: workDir });

    expect(result.code).toBe(1);
    expect(result.stdout).toBe(
      'shared-id/b.json: dag_id "same" is already defined in a_copy.json\n',
    );
    expect(result.stderr).toContain(
      'dag_id "same" is in 2 files: a running scheduler keeps it in the file that defines it now and refuses the others; here the first by name is kept\n',
    );
  });

  it('warns on stderr, exit code 0, of Airflow templating in a bash_command', async () => {
    const folder = join(workDir, 'templated');
    await mkdir(folder, { recursive: true });
    await writeFile(
      join(folder, 'dag.json'),
      JSON.stringify({
        dag_id: 'templated',
        tasks: [{ task_id: 'export', operator: 'bash', bash_command: 'echo {{ ds }}' }],
      }),
    );

    const result = await runCli(['dags', 'validate', 'templated'], { cwd: workDir });

    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(
      "templated/dag.json: warning: tasks[0].bash_command: {{ ds }} is Airflow templating, which dagbag does not render (bash gets it as written); use the AIRFLOW_CTX_* variables, e.g. $AIRFLOW_CTX_LOGICAL_DATE, and $DAG_RUN_CONF (JSON) for the run's conf\n",
    );
  });

  it('reads a file as the processor does: not UTF-8 is an error, a byte order mark is not', async () => {
    const folder = join(workDir, 'encodings');
    await mkdir(folder, { recursive: true });
    await writeFile(
      join(folder, 'latin1.json'),
      Buffer.from('{ "dag_id": "l", "description": "caf\u00e9", "tasks": [] }', 'latin1'),
    );
    await writeFile(
      join(folder, 'bom.json'),
      `\uFEFF${JSON.stringify({ dag_id: 'b', tasks: [] })}`,
    );

    const result = await runCli(['dags', 'validate', 'encodings'], { cwd: workDir });

    expect(result.code).toBe(1);
    expect(result.stdout.trim().split('\n')).toEqual([
      'encodings/latin1.json:1:37: not UTF-8 text (byte 0xe9); save the file as UTF-8',
    ]);
  });

  it('stops quietly when the reader of its output goes away (dagbag ... | head)', async () => {
    const folder = join(workDir, 'many');
    await mkdir(folder, { recursive: true });
    for (let i = 0; i < 50; i++) await writeFile(join(folder, `bad-${i}.json`), 'not json');
    const child = spawn(process.execPath, [MAIN, 'dags', 'validate', 'many'], {
      cwd: workDir,
      env: { ...process.env, INIT_CWD: '', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy(); // as `| head -1` does once it has its line
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    // Before: "Unhandled 'error' event ... Error: write EPIPE" and a stack on the terminal.
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(141); // as a Unix tool ended by SIGPIPE (128 + 13)
  });

  it('exits 0 and prints nothing on stdout when every file is valid', async () => {
    const result = await runCli(['dags', 'validate', join(CORPUS, 'a-valid-1.json')]);
    expect(result).toMatchObject({ code: 0, stdout: '' });
  });

  it('agrees with the processor on every file of the reliability bad-DAG corpus', async () => {
    const expected = JSON.parse(await readFile(join(CORPUS, 'expected.json'), 'utf8')) as {
      expected: Record<string, string>;
    };
    const dagsFolder = join(workDir, 'corpus');
    await mkdir(dagsFolder);
    const files = [...Object.keys(expected.expected), 'a-valid-1.json', 'valid-2.json'];
    for (const file of files) await copyFile(join(CORPUS, file), join(dagsFolder, file));

    const db = await createTestDatabase();
    try {
      const processor = new DagFileProcessor({
        prisma: db.prisma,
        dagsFolder,
        logger: silentLogger,
        lock: { tryAcquire: async () => true, release: async () => {} },
      });
      await processor.processOnce();
      const importErrors = await db.prisma.importError.findMany({ orderBy: { filename: 'asc' } });
      const processorSays = Object.fromEntries(
        importErrors.map((error) => [error.filename, error.stackTrace]),
      );

      const result = await runCli(['dags', 'validate', '--json', '.'], { cwd: dagsFolder });
      const reports = JSON.parse(result.stdout) as { file: string; problems: unknown[] }[];
      const cliSays: Record<string, string> = {};
      const text = await runCli(['dags', 'validate', '.'], { cwd: dagsFolder });
      for (const line of text.stdout.trim().split('\n')) {
        const file = reports.find((report) => line.startsWith(`${report.file}:`))!.file;
        cliSays[file] = cliSays[file] ? `${cliSays[file]}\n${line}` : line;
      }

      expect(result.code).toBe(1);
      expect(Object.keys(processorSays)).toHaveLength(Object.keys(expected.expected).length);
      expect(cliSays).toEqual(processorSays);
    } finally {
      await db.drop();
    }
  });
});
