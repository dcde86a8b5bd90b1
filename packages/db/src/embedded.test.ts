import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from './database.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from './embedded.ts';
import { DATABASE_SETTINGS, defaultDatabaseSettings } from './settings.ts';
import { readConfig } from '@dagbag/config';
import { freePort } from '@dagbag/config/testing/free-port';

const running: EmbeddedServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.stop()));
  await Promise.all(
    dirs
      .splice(0)
      .flatMap((dir) => [dir, `${dir}.password`])
      .map((path) => rm(path, { recursive: true, force: true })),
  );
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dagbag-embedded-'));
  dirs.push(dir);
  return dir;
}

async function scalar(url: string, ...statements: string[]): Promise<unknown> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    let result: pg.QueryResult | undefined;
    for (const sql of statements) result = await client.query(sql);
    return Object.values(result?.rows[0] ?? {})[0];
  } finally {
    await client.end();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('embedded PostgreSQL', () => {
  it('keeps its data across a stop and a later start', async () => {
    const dataDir = await tempDir();
    const port = await freePort();
    const first = await startEmbeddedPostgres({ dataDir, port });
    await scalar(first.url, 'CREATE TABLE kept (x int)', 'INSERT INTO kept VALUES (42)');
    await first.stop();
    const second = await startEmbeddedPostgres({ dataDir, port });
    running.push(second);
    expect(await scalar(second.url, 'SELECT x FROM kept')).toBe(42);
  });

  it("gives a new cluster's superuser a random password, so no other user of the machine logs in", async () => {
    const dataDir = await tempDir();
    const port = await freePort();
    const server = await startEmbeddedPostgres({ dataDir, port });
    running.push(server);
    const password = readFileSync(`${dataDir}.password`, 'utf8').trim();
    expect(password).toMatch(/^[\w-]{32}$/);
    expect(statSync(`${dataDir}.password`).mode & 0o777).toBe(0o600);
    expect(await scalar(server.url, 'SELECT 1')).toBe(1);
    // The password everyone knows, which every embedded cluster had before.
    const known = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`;
    await expect(scalar(known, 'SELECT 1')).rejects.toThrowError(/password authentication failed/);
  });

  it("keeps the 'postgres' password of a cluster initialised before passwords were random", async () => {
    const dataDir = await tempDir();
    const port = await freePort();
    const first = await startEmbeddedPostgres({ dataDir, port });
    // What an earlier release left: the cluster with 'postgres', and no password file.
    await scalar(first.url, "ALTER USER postgres PASSWORD 'postgres'");
    await first.stop();
    await rm(`${dataDir}.password`);
    const second = await startEmbeddedPostgres({ dataDir, port });
    running.push(second);
    expect(second.url).toContain('postgres:postgres@');
    expect(await scalar(second.url, 'SELECT 1')).toBe(1);
    expect(existsSync(`${dataDir}.password`)).toBe(false);
  });

  it('recovers the data directory of a run that was killed with SIGKILL', async () => {
    const dataDir = await tempDir();
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(import.meta.dirname, 'testing', 'start-embedded-child.ts'),
        dataDir,
        String(port),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`fixture exited with ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const orphan = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(isAlive(orphan)).toBe(true); // the killed parent left its postgres behind

    const server = await startEmbeddedPostgres({ dataDir, port });
    running.push(server);
    expect(await scalar(server.url, 'SELECT 1 AS one')).toBe(1);
    expect(isAlive(orphan)).toBe(false);
  });

  it('leaves signal handling to its caller (no exit hook that would cut a graceful shutdown short)', async () => {
    const before = process.listenerCount('SIGTERM');
    const server = await startEmbeddedPostgres({
      dataDir: await tempDir(),
      port: await freePort(),
    });
    running.push(server);
    expect(process.listenerCount('SIGTERM')).toBe(before);
    expect(process.listenerCount('beforeExit')).toBe(0);
  });

  it('starts nothing embedded when DATABASE_URL is set', async () => {
    const dataDir = await tempDir();
    const database = await openDatabase({
      settings: {
        ...defaultDatabaseSettings(),
        DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none',
      },
      dataDir,
      migrate: false,
    });
    expect(database).toMatchObject({
      embedded: false,
      ownsServer: false,
      url: 'postgresql://nobody@127.0.0.1:1/none',
    });
    expect(existsSync(join(dataDir, 'postgres'))).toBe(false);
  });

  it('starts, migrates and shares one embedded server between processes of one checkout', async () => {
    const dataDir = await tempDir();
    const options = {
      settings: { ...defaultDatabaseSettings(), EMBEDDED_POSTGRES_PORT: await freePort() },
      dataDir,
    };
    const owner = await openDatabase(options);
    try {
      expect(owner).toMatchObject({ embedded: true, ownsServer: true });
      expect(
        Number(await scalar(owner.url, 'SELECT count(*) FROM _prisma_migrations')),
      ).toBeGreaterThan(0);
      // A second opener (another app of `pnpm dev`) would find the owner alive; simulate one by
      // pointing the owner file at a live process that is not us.
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(dataDir, 'postgres.owner'), String(process.ppid));
      const sharer = await openDatabase(options);
      expect(sharer).toMatchObject({ embedded: true, ownsServer: false, url: owner.url });
    } finally {
      await owner.stop();
    }
  });

  it('says which server of which variable refused the first connection, and what to check', async () => {
    const closed = await freePort();
    const url = `postgresql://dagbag:secret@127.0.0.1:${closed}/prod`;
    const refused = await openDatabase({
      settings: { ...defaultDatabaseSettings(), DATABASE_URL: url },
      dataDir: await tempDir(),
    }).then(
      () => new Error('connected'),
      (error: unknown) => error as Error,
    );
    // Before: "connect ECONNREFUSED 127.0.0.1:<port>", no variable, no hint.
    expect(refused.message).toBe(
      `cannot connect to the PostgreSQL of DATABASE_URL (127.0.0.1:${closed}/prod): connect ECONNREFUSED 127.0.0.1:${closed}; is PostgreSQL running there, and reachable from here?`,
    );
  });

  it('names the variable when the database settings are invalid', () => {
    expect(() => readConfig(DATABASE_SETTINGS, { EMBEDDED_POSTGRES_PORT: '80' })).toThrow(
      /EMBEDDED_POSTGRES_PORT: must be a whole number from 1024 to 65535/,
    );
    expect(() => readConfig(DATABASE_SETTINGS, { DATABASE_URL: 'mysql://x' })).toThrow(
      /DATABASE_URL: must be a postgresql:\/\/ URL/,
    );
  });

  it('refuses a ?schema= in DATABASE_URL, which the driver would ignore, naming the fix', () => {
    for (const variable of ['DATABASE_URL', 'DATABASE_DIRECT_URL']) {
      let message = '';
      try {
        readConfig(DATABASE_SETTINGS, {
          [variable]:
            'postgresql://dagbag:hunter2@db.example:5432/prod?sslmode=disable&schema=sched',
        });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain(`${variable}: must not carry ?schema=sched`);
      expect(message).toContain('CREATE DATABASE dagbag');
      expect(message).not.toContain('hunter2');
    }
    expect(
      readConfig(DATABASE_SETTINGS, { DATABASE_URL: 'postgresql://u:p@h:5432/db?sslmode=disable' })
        .DATABASE_URL,
    ).toBe('postgresql://u:p@h:5432/db?sslmode=disable');
  });

  it('refuses a DATABASE_URL the driver cannot read, naming the encoding of the password', () => {
    for (const url of [
      'postgresql://dagbag:p@ss:w/rd%?&@127.0.0.1:5432/prod',
      'postgresql://dagbag:pass#word@127.0.0.1:5432/prod',
    ]) {
      let message = '';
      try {
        readConfig(DATABASE_SETTINGS, { DATABASE_URL: url });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain('DATABASE_URL: must be a URL the PostgreSQL driver can read');
      expect(message).toContain('# as %23');
      expect(message).not.toContain('p@ss');
      expect(message).not.toContain('pass#word');
    }
    const encoded = 'postgresql://dagbag:p%40ss%3Aw%2Frd%25%3F%26@127.0.0.1:5432/prod';
    expect(readConfig(DATABASE_SETTINGS, { DATABASE_URL: encoded }).DATABASE_URL).toBe(encoded);
    for (const accepted of [
      'postgresql:///dagbag?host=/var/run/postgresql',
      'postgres://u@db.internal/dagbag?sslmode=require',
      'postgresql://u:a b@h/db',
    ])
      expect(readConfig(DATABASE_SETTINGS, { DATABASE_URL: accepted }).DATABASE_URL).toBe(accepted);
  });

  it('keeps the password of DATABASE_URL out of its error message', () => {
    let message = '';
    try {
      readConfig(DATABASE_SETTINGS, { DATABASE_URL: 'mysql://user:hunter2@host/db' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('DATABASE_URL: must be a postgresql:// URL');
    expect(message).not.toContain('hunter2');
  });
});

describe('several processes of one checkout', () => {
  it('start one embedded server between them when they open the database at once', async () => {
    const dataDir = await tempDir();
    const port = String(await freePort());
    const script = `import { openDatabase } from ${JSON.stringify(join(import.meta.dirname, 'database.ts'))};
      import { defaultDatabaseSettings } from ${JSON.stringify(join(import.meta.dirname, 'settings.ts'))};
      const db = await openDatabase({
        settings: { ...defaultDatabaseSettings(), EMBEDDED_POSTGRES_PORT: ${port} },
        dataDir: ${JSON.stringify(dataDir)},
        migrate: false,
      });
      process.stdout.write(JSON.stringify({ owns: db.ownsServer }) + '\\n');
      process.stdin.once('data', async () => { await db.stop(); process.exit(0); });`;
    const children = [0, 1, 2].map(() =>
      spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        env: process.env,
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    );
    const answers = await Promise.all(
      children.map(
        (child) =>
          new Promise<{ owns: boolean }>((resolve, reject) => {
            child.stdout.once('data', (chunk: Buffer) =>
              resolve(JSON.parse(chunk.toString()) as { owns: boolean }),
            );
            child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
          }),
      ),
    );
    expect(answers.filter((a) => a.owns)).toHaveLength(1);
    // Sharers leave first, the owner last (as `pnpm dev` stops the apps before the database).
    const ownerIndex = answers.findIndex((a) => a.owns);
    const order = [...children.keys()].sort(
      (a, b) => Number(a === ownerIndex) - Number(b === ownerIndex),
    );
    for (const index of order) {
      const child = children[index]!;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.write('stop\n');
      await exited;
    }
    expect(existsSync(join(dataDir, 'postgres.owner'))).toBe(false);
  }, 60_000);
});
