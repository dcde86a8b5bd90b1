/**
 * Where the API process spends an all-miss crawl, by phase of a miss, from a `--cpu-prof` profile
 * of `pnpm bench` (issue 13):
 *
 *   BENCH_VERSIONS=4000 BENCH_EXPERIMENT_FLAGS="--cpu-prof --cpu-prof-dir=<dir>" pnpm bench
 *   node --import tsx bench/miss-phases.ts <dir>/<file>.cpuprofile [<API CPU ms per request>]
 *
 * Each sample is charged to the nearest frame, from the sampled one up to the root, that names a
 * phase; frames of V8 builtins and Node internals that any phase calls (url '', crypto, buffers)
 * name none and pass the sample up to their caller. Start-up (module loading) and idle samples are
 * left out, and so are the socket writes' (see WRITES); shares are of the rest. With the API's
 * CPU per request (the bench's log line) each share is also given in ms per request.
 */
import { microsecondsBy } from './cpu-profile.ts';

const DAGBAG = /\/packages\/dagbag\/src\//;
/**
 * Samples inside the socket writes: the profiler samples by the wall clock, and a write that wakes
 * the peer (PostgreSQL, the load generator) on a busy machine is where the process is descheduled,
 * so most of this is time off the CPU (an after run: 8 % of the API's CPU was system time, against
 * a third of the busy samples here). Shown apart, left out of the shares.
 */
const WRITES = 'inside socket writes (`writev`; mostly descheduled, not CPU)';

/** First match wins, frame by frame from the sampled one up to the root. */
const PHASES: { name: string; test: (url: string, fn: string, stack: string) => boolean }[] = [
  { name: 'idle', test: (_u, fn) => fn === '(idle)' },
  { name: 'start-up', test: (u) => /node:internal\/modules|\/tsx\/|\/esbuild\//.test(u) },
  { name: 'garbage collection', test: (_u, fn) => fn === '(garbage collector)' },
  {
    name: WRITES,
    test: (u, fn) =>
      u === '' && /^(writev|writeBuffer|writeUtf8String|writeLatin1String)$/.test(fn),
  },
  {
    name: 'validation of the document (schema, graph and cron checks)',
    test: (u, fn, stack) =>
      /\/packages\/dagbag\/src\/document\.ts$/.test(u) ||
      /\/croner\//.test(u) ||
      (/\/zod\//.test(u) && stack.includes('dagbag')) ||
      (/\/packages\/dagbag\/src\/dag\.ts$/.test(u) && /deserializeDag|validate/.test(fn)),
  },
  {
    // JSON.parse is a builtin: its samples are charged to entryFromRow's own frame.
    name: 'JSON.parse of the row (entryFromRow itself)',
    test: (u, fn, stack) =>
      (u === '' && fn === 'parse' && stack.includes('dagbag')) ||
      /\/packages\/dagbag\/src\/entry\.ts$/.test(u),
  },
  {
    name: 'building the DAG (task maps, orders, freeze)',
    test: (u) => /\/packages\/dagbag\/src\/(dag|weight)\.ts$/.test(u),
  },
  {
    name: 'rendering the structure (JSON, sha-256 ETag)',
    test: (u) => /\/apps\/api\/src\/serialize\.ts$/.test(u),
  },
  {
    name: 'database client (Prisma or pg, pg protocol, the document text)',
    test: (u) =>
      /\/(@prisma|prisma|pg|pg-protocol|pg-pool|pg-types)\/|\/packages\/db\/src\//.test(u),
  },
  {
    name: 'DAG cache bookkeeping (dagbag.ts, lru-cache, sketch)',
    test: (u) => DAGBAG.test(u) || /\/lru-cache\//.test(u),
  },
  {
    name: 'HTTP, routing, auth, logging, telemetry',
    test: (u) =>
      /\/apps\/api\/src\/|\/packages\/(logger|metrics|telemetry|config)\/src\//.test(u) ||
      /\/(express|router|path-to-regexp|finalhandler|send|on-finished|qs|parseurl|content-type|mime-types|type-is|vary|etag|fresh|debug|depd|statuses|http-errors|accepts|negotiator|pino|sonic-boom|thread-stream|zod|@opentelemetry|require-in-the-middle|import-in-the-middle)\//.test(
        u,
      ) ||
      /^node:(_http|http|net|stream|events|timers|internal\/(http|stream|streams|net|timers|async_hooks|process\/task_queues|url|event_target))/.test(
        u,
      ),
  },
];

export interface PhaseRow {
  phase: string;
  share: number;
}

export function summarizeMissProfile(path: string): PhaseRow[] {
  const totals = microsecondsBy(path, (frames) => {
    for (let i = 0; i < frames.length; i++) {
      const { url, functionName } = frames[i]!;
      // Whether a DAG-cache frame is among the callers (zod and JSON.parse serve requests too).
      const stack = frames.slice(i + 1).some((f) => DAGBAG.test(f.url)) ? 'dagbag' : '';
      const phase = PHASES.find((candidate) => candidate.test(url, functionName, stack));
      if (phase) return phase.name;
    }
    return 'other';
  });
  totals.delete('idle');
  totals.delete('start-up');
  const writes = totals.get(WRITES) ?? 0;
  totals.delete(WRITES);
  const busy = [...totals.values()].reduce((sum, us) => sum + us, 0);
  const order = [...PHASES.map((p) => p.name), 'other'];
  return [
    ...[...totals]
      .map(([phase, us]) => ({ phase, share: us / busy }))
      .sort((a, b) => order.indexOf(a.phase) - order.indexOf(b.phase)),
    // Relative to the rest: not part of the shares.
    { phase: WRITES, share: writes / busy },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [path, msArg] = process.argv.slice(2);
  if (path === undefined) {
    process.stderr.write('usage: miss-phases.ts <profile.cpuprofile> [<API CPU ms per request>]\n');
    process.exit(2);
  }
  const ms = msArg === undefined ? undefined : Number(msArg);
  process.stdout.write(
    '| phase of a miss in the API | share | ms per request |\n|---|---:|---:|\n',
  );
  for (const row of summarizeMissProfile(path)) {
    const apart = row.phase === WRITES;
    const perRequest = ms === undefined || apart ? '' : (row.share * ms).toFixed(3);
    const share = `${(row.share * 100).toFixed(1)} %${apart ? ' of the rest' : ''}`;
    process.stdout.write(`| ${row.phase} | ${share} | ${perRequest} |\n`);
  }
}
