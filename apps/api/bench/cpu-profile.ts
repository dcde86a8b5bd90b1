/**
 * Ranks the CPU time of a `node --cpu-prof` profile of the API under load by what the request
 * path spends it on. Each sample is charged to the nearest frame (itself first, then its callers)
 * whose function or script falls in a category; samples with none are `other`.
 */
import { readFileSync } from 'node:fs';

/** A frame of a `--cpu-prof` profile: the function and the script it is in ('' for builtins). */
export interface CallFrame {
  functionName: string;
  url: string;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * The microseconds of a `--cpu-prof` profile by category: `categoryOf` is given each sampled
 * frame's stack, the sampled frame first and the root last, and names its category (asked once
 * per frame of the call tree, however many samples it has).
 */
export function microsecondsBy(
  path: string,
  categoryOf: (stack: readonly CallFrame[]) => string,
): Map<string, number> {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const known = new Map<number, string>();
  const totals = new Map<string, number>();
  profile.samples.forEach((id, index) => {
    let category = known.get(id);
    if (category === undefined) {
      const stack: CallFrame[] = [];
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at))
        stack.push(byId.get(at)!.callFrame);
      known.set(id, (category = categoryOf(stack)));
    }
    totals.set(category, (totals.get(category) ?? 0) + (profile.timeDeltas[index] ?? 0));
  });
  return totals;
}

/** First match wins, frame by frame from the sampled one up to the root. */
const CATEGORIES: { name: string; test: (url: string, fn: string) => boolean }[] = [
  { name: 'idle (waiting for I/O)', test: (_u, fn) => fn === '(idle)' },
  { name: 'garbage collection', test: (_u, fn) => fn === '(garbage collector)' },
  {
    name: 'serialization (JSON, response body)',
    test: (u, fn) =>
      /\/src\/serialize\.ts$/.test(u) ||
      (u === '' && /^(stringify|JSON\.stringify)$/.test(fn)) ||
      /structure-body|\/json-bytes/.test(u),
  },
  {
    name: 'request logging (pino, pino-http)',
    test: (u) =>
      /\/(pino|pino-http|pino-std-serializers|sonic-boom|fast-redact|thread-stream)\//.test(u),
  },
  {
    name: 'OpenTelemetry (HTTP/Express instrumentation, metrics, context)',
    test: (u) => /\/@opentelemetry\/|\/require-in-the-middle\/|\/import-in-the-middle\//.test(u),
  },
  {
    name: 'parameter validation (zod, unstorable strings)',
    test: (u, fn) =>
      /\/zod\//.test(u) || (/\/src\/route\.ts$/.test(u) && /unstorable|issuesOf|parse/.test(fn)),
  },
  {
    name: 'auth (bearer check, sha-256)',
    test: (u) => /\/src\/auth\.ts$/.test(u) || /node:internal\/crypto\//.test(u),
  },
  {
    name: 'DAG cache lookup',
    test: (u) => /\/packages\/dagbag\/src\//.test(u) || /\/lru-cache\//.test(u),
  },
  {
    name: 'database (Prisma, pg)',
    test: (u) => /\/(@prisma|prisma|pg|pg-protocol|pg-pool)\/|\/packages\/db\/src\//.test(u),
  },
  {
    name: 'routing and middleware (Express, router, our route/app code)',
    test: (u) =>
      /\/(express|router|path-to-regexp|finalhandler|send|on-finished|qs|parseurl|content-type|mime-types|type-is|vary|encodeurl|escape-html|etag|fresh|range-parser|debug|depd|statuses|http-errors|safe-buffer|content-disposition|cookie|accepts|negotiator|proxy-addr|forwarded|ipaddr\.js|serve-static|media-typer|merge-descriptors|utils-merge|methods|setprototypeof|inherits|once|wrappy)\//.test(
        u,
      ) || /\/apps\/api\/src\//.test(u),
  },
  {
    name: 'Node HTTP and sockets',
    test: (u) =>
      /^node:(_http|http|net|internal\/(http|stream|streams|net|timers|async_hooks|process\/task_queues|url))/.test(
        u,
      ) || /^node:(stream|events|timers|internal\/event_target)/.test(u),
  },
  {
    name: 'module loading and compilation (start-up)',
    test: (u) => /node:internal\/modules|\/tsx\/|\/esbuild\//.test(u),
  },
  { name: 'program (V8/native, unattributed)', test: (_u, fn) => fn === '(program)' },
];

export interface ProfileRow {
  category: string;
  ms: number;
  share: number;
  usPerRequest: number;
}

export function summarizeProfile(path: string, requests: number): ProfileRow[] {
  const totals = microsecondsBy(path, (stack) => {
    for (const frame of stack) {
      const match = CATEGORIES.find((category) => category.test(frame.url, frame.functionName));
      if (match) return match.name;
    }
    return 'other';
  });
  const busy = [...totals]
    .filter(([name]) => !name.startsWith('idle'))
    .reduce((sum, [, us]) => sum + us, 0);
  return [...totals]
    .map(([category, us]) => ({
      category,
      ms: us / 1000,
      share: category.startsWith('idle') ? 0 : us / busy,
      usPerRequest: requests > 0 ? us / requests : 0,
    }))
    .sort((a, b) => b.ms - a.ms);
}

export function profileTable(rows: readonly ProfileRow[]): string {
  const lines = [
    '| where the CPU goes | ms | share of busy CPU | µs per request |',
    '|---|---|---|---|',
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.category} | ${row.ms.toFixed(0)} | ${row.category.startsWith('idle') ? '-' : `${(row.share * 100).toFixed(1)} %`} | ${row.category.startsWith('idle') ? '-' : row.usPerRequest.toFixed(1)} |`,
    );
  }
  return lines.join('\n');
}
