/**
 * Mistakes in the command line itself, which the CLI answers before any request: exit code 2 and
 * a message naming the mistake, whichever command they are made in.
 */
import { freePort } from '@dagbag/config/testing/free-port';
import { describe, expect, it } from 'vitest';
import { runCli } from './testing/run-cli.ts';

describe('usage errors', () => {
  it('exit 2 for an unknown subcommand, as for an unknown command', async () => {
    const unknownCommand = await runCli(['dagz']);
    expect(unknownCommand.code).toBe(2);
    const unknownSubcommand = await runCli(['dags', 'lis']);
    expect(unknownSubcommand.stderr).toContain("error: unknown command 'lis'");
    expect(unknownSubcommand.stderr).toContain('(Did you mean list?)');
    expect(unknownSubcommand.code).toBe(2);
  });

  it('exit 2 for a missing or extra argument of a subcommand', async () => {
    const missing = await runCli(['runs', 'show', 'some_dag']);
    expect(missing.stderr).toContain("error: missing required argument 'run'");
    expect(missing.code).toBe(2);
    const extra = await runCli(['runs', 'show', 'some_dag', 'run', 'extra']);
    expect(extra.stderr).toContain("error: too many arguments for 'show'");
    expect(extra.code).toBe(2);
  });

  it('exit 0 for the help of a subcommand', async () => {
    const help = await runCli(['runs', 'list', '--help']);
    expect(help.stdout).toContain('Usage: dagbag runs list');
    expect(help.code).toBe(0);
  });

  it('refuse an unknown run state before asking the API, naming the states there are', async () => {
    const closed = await freePort(); // nothing listens: the mistake is found without a request
    const result = await runCli(['runs', 'list', 'some_dag', '--state', 'runing'], {
      env: { DAGBAG_API_URL: `http://127.0.0.1:${closed}` },
    });
    expect(result.stderr).toContain(
      "error: option '--state <state...>' argument 'runing' is invalid. Allowed choices are queued, running, success, failed.",
    );
    expect(result.code).toBe(2);
  });
});
