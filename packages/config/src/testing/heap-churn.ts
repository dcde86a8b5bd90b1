/**
 * Child process for heap.test.ts: holds about LIVE_MB of live objects, then churns garbage that
 * outlives young-generation collections (so it is promoted), and prints the peak heap use.
 * argv[2]: the headroom percent to apply ('none' leaves V8's heuristics alone).
 */
import { applyGcHeadroom } from '../heap.ts';

const headroom = process.argv[2]!;
if (headroom !== 'none') applyGcHeadroom(Number(headroom));

const LIVE_MB = 150;
const record = (i: number) => ({ id: `record-${i}`, payload: new Array(16).fill(i), next: null });
const live: unknown[] = [];
while (process.memoryUsage().heapUsed < LIVE_MB * 1024 * 1024)
  for (let i = 0; i < 10_000; i++) live.push(record(i));

// A ring of recent garbage: each batch stays reachable for a few more batches, long enough to be
// promoted, like a cache miss's rows and documents; batches arrive at a request-like pace, slow
// enough for V8's heuristics to choose their widest headroom.
const ring: unknown[][] = new Array(64).fill([]);
let peak = 0;
for (let batch = 0; batch < 700; batch++) {
  ring[batch % ring.length] = Array.from({ length: 5000 }, (_, i) => record(i));
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  if (batch % 4 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
}
globalThis.gc?.();
const liveAfter = process.memoryUsage().heapUsed;
process.stdout.write(JSON.stringify({ peak, liveAfter, kept: live.length + ring.length }));
