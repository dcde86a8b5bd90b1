/**
 * CPU time of the benchmark's three parties (the API process, the PostgreSQL server with all its
 * backends, and this load generator), read from /proc on Linux. On a shared machine the wall clock
 * measures the neighbours too; CPU seconds per request measure what a request costs, and 2 cores
 * divided by them is the request rate the sweep would reach with the 2 cores to itself.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux x86-64 and arm64). */
const TICKS_PER_SECOND = 100;

interface ProcTimes {
  ppid: number;
  /** utime + stime, seconds. */
  own: number;
  /** cutime + cstime: children it has reaped (for the postmaster: exited backends), seconds. */
  reaped: number;
}

function procTimes(pid: number): ProcTimes | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = (i: number) => Number(fields[i]) / TICKS_PER_SECOND;
  return { ppid: Number(fields[1]), own: ticks(11) + ticks(12), reaped: ticks(13) + ticks(14) };
}

/** CPU seconds one process has used so far. */
export function processCpuSeconds(pid: number): number {
  return procTimes(pid)?.own ?? 0;
}

/**
 * CPU seconds of the PostgreSQL server started on `dataDir`: postmaster, live and exited backends.
 */
export function postgresCpuSeconds(dataDir: string): number {
  const pids = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
  const postmaster = pids.find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(dataDir);
    } catch {
      return false;
    }
  });
  if (postmaster === undefined) return 0;
  let total = 0;
  for (const pid of pids) {
    const times = procTimes(pid);
    if (times !== undefined && (pid === postmaster || times.ppid === postmaster))
      total += times.own + times.reaped;
  }
  return total;
}

/**
 * The load generator's CPU seconds: this process's, and its children's that it has reaped (wrk,
 * with BENCH_LOAD_GENERATOR=wrk; a child that is still running counts once it has exited).
 */
export function loadGeneratorCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6 + (procTimes(process.pid)?.reaped ?? 0);
}
