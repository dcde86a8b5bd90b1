/** Human tables (cli-table3) or JSON (--json), on the streams the program is given. */
import Table from 'cli-table3';
import pc from 'picocolors';

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
}

export type Cell = string | number | boolean | null | undefined;

export function printTable(io: Io, head: string[], rows: Cell[][]): void {
  const table = new Table({
    head: head.map((title) => pc.bold(title)),
    style: { head: [], border: [], compact: true },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const row of rows) table.push(row.map(cellText));
  io.stdout.write(`${table.toString()}\n`);
}

export function printJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printFields(io: Io, fields: Record<string, Cell>): void {
  const width = Math.max(...Object.keys(fields).map((key) => key.length));
  for (const [key, value] of Object.entries(fields))
    io.stdout.write(`${pc.bold(key.padEnd(width))}  ${cellText(value)}\n`);
}

export function cellText(value: Cell): string {
  if (value === null || value === undefined) return '';
  return String(value);
}

const STATE_COLOURS: Record<string, (text: string) => string> = {
  success: pc.green,
  failed: pc.red,
  upstream_failed: pc.yellow,
  running: pc.cyan,
  queued: pc.gray,
  scheduled: pc.gray,
  up_for_retry: pc.yellow,
  skipped: pc.magenta,
};

export function stateText(state: string | null | undefined): string {
  const text = state ?? 'none';
  return (STATE_COLOURS[text] ?? ((value: string) => value))(text);
}
