#!/usr/bin/env node
/**
 * `dagbag`: reads its configuration (flags, DAGBAG_API_URL / DAGBAG_API_TOKEN, development
 * defaults) and runs one command. A failure is one line on stderr naming its cause, never a stack.
 */
import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { CommanderError } from 'commander';
import { DagbagApiError, DagbagUnreachableError, detailText } from '@dagbag/client';
import { CommandFailed, devTokenFile, resolveConfig, UsageError } from './config.ts';
import { buildProgram } from './program.ts';

// `dagbag runs show ... | head -4`: once the reader is gone, stop quietly as a Unix tool ended by
// SIGPIPE does (exit 128 + 13), not with an unhandled 'error' event and its stack.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(141);
  throw error;
});

// `pnpm dagbag` runs in the repository root; paths given are the caller's.
const cwd = process.env.INIT_CWD || process.cwd();
const context = {
  stdout: process.stdout,
  stderr: process.stderr,
  env: {
    DAGBAG_API_URL: process.env.DAGBAG_API_URL,
    DAGBAG_API_TOKEN: process.env.DAGBAG_API_TOKEN,
    // The apps' DATA_DIR, where the API writes its development token (a relative one from where
    // the command was typed, as the apps read it), and their metrics ports.
    DATA_DIR: process.env.DATA_DIR ? resolve(cwd, process.env.DATA_DIR) : undefined,
    API_METRICS_PORT: process.env.API_METRICS_PORT,
    SCHEDULER_METRICS_PORT: process.env.SCHEDULER_METRICS_PORT,
  },
  cwd,
  ...(process.stdin.isTTY ? { ask } : {}),
};
const program = buildProgram(context).exitOverride();

try {
  await program.parseAsync(process.argv);
  process.exitCode = 0;
} catch (error) {
  process.exitCode = exitCode(error);
  const message = errorLine(error, program.opts<{ url?: string; token?: string }>());
  if (message) process.stderr.write(`dagbag: ${message}\n`);
}

function exitCode(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof UsageError) return 2;
  return 1;
}

function errorLine(error: unknown, flags: { url?: string; token?: string }): string {
  // commander has printed its own message (and the help) already.
  if (error instanceof CommanderError) return '';
  if (error instanceof UsageError || error instanceof CommandFailed) return error.message;
  if (error instanceof DagbagUnreachableError)
    return `${error.message}; is the API running? Set --url or DAGBAG_API_URL`;
  if (error instanceof DagbagApiError) {
    const detail = detailText(error.detail);
    if (error.status === 401) {
      const source = resolveConfig(flags, context.env).tokenSource;
      const hint =
        source === 'none'
          ? `no token was sent: set DAGBAG_API_TOKEN or --token (there is no development token at ${devTokenFile(context.env)}; set DATA_DIR as the API's)`
          : `the token from ${source} was refused: use one of the API's API_AUTH_TOKENS`;
      return `401 unauthorized: ${hint}`;
    }
    if (error.status === 404) return `not found: ${detail}`;
    return `${error.status}: ${detail}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * One question to the person at the terminal (`dags delete` without --yes). Ctrl-C stops the
 * command as it stops any other (status 130); Ctrl-D is no answer.
 */
async function ask(question: string): Promise<string> {
  const readline = createInterface({ input: process.stdin, output: process.stderr });
  readline.once('SIGINT', () => {
    readline.close();
    process.stderr.write('\n');
    process.kill(process.pid, 'SIGINT');
  });
  try {
    return await readline.question(question);
  } catch {
    return '';
  } finally {
    readline.close();
  }
}
