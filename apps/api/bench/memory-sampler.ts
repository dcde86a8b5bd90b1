/**
 * Preloaded into the API process by the benchmark (`--import ./bench/memory-sampler.ts`): reports
 * process.memoryUsage() to the parent over IPC at a fixed interval, and on request runs a full GC
 * first (the process is started with --expose-gc) so retained heap can be measured exactly.
 * Nothing else of the server is changed: it is the real src/main.ts.
 */
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
    }
  });
}
