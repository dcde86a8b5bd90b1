/**
 * Preloaded into the API process by the benchmark (`--import ./bench/memory-sampler.ts`): reports
 * process.memoryUsage() to the parent over IPC at a fixed interval, and on request runs a full GC
 * first (the process is started with --expose-gc) so retained heap can be measured exactly.
 * Nothing else of the server is changed: it is the real src/main.ts.
 * With BENCH_HEAP_PROFILE_DIR the benchmark also asks it for a heap snapshot at half of the sweep
 * and for an allocation profile from a quarter to three quarters of it that keeps the objects a
 * full GC collected: what outlived a young-generation collection and then died (RESULTS.md,
 * seventh round).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';

const session = new Session();
const intervalMs = Number(process.env.BENCH_SAMPLE_MS ?? 250);

function report(type: string): void {
  process.send?.({ type, at: Date.now(), ...process.memoryUsage() });
}

if (process.send) {
  setInterval(() => report('sample'), intervalMs).unref();
  process.on('message', (message) => {
    if (message === 'gc') {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      report('after-gc');
    } else if (message === 'heap-sampling-start') {
      // Allocation sampling that keeps the objects a full GC collected (those that outlived a
      // young-generation collection, then died) and drops those a young collection collected.
      session.connect();
      session.post('HeapProfiler.enable');
      session.post('HeapProfiler.startSampling', {
        samplingInterval: 16_384,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: false,
      });
    } else if (message === 'heap-sampling-stop') {
      session.post('HeapProfiler.stopSampling', (error, result) => {
        const dir = process.env.BENCH_HEAP_PROFILE_DIR ?? '.';
        if (!error)
          writeFileSync(
            join(dir, `api-${process.pid}-${Date.now()}.heapprofile`),
            JSON.stringify(result.profile),
          );
        session.disconnect();
      });
    } else if (message === 'snapshot') {
      // What is live mid-sweep (V8 collects fully before it writes the snapshot).
      const dir = process.env.BENCH_HEAP_PROFILE_DIR ?? '.';
      const file = writeHeapSnapshot(join(dir, `api-${process.pid}-${Date.now()}.heapsnapshot`));
      process.send?.({ type: 'snapshot', at: Date.now(), file });
    }
  });
}
