/**
 * CPU time per process group, read from /proc: this process (all its worker threads), the
 * PostgreSQL backends serving the bench's database, our Redis server and the Stripe double (with
 * its children). The PostgreSQL server is shared with whoever else uses this machine: its other
 * backends and its background processes (WAL writer, checkpointer) are not counted.
 */
import { readdirSync, readFileSync } from 'node:fs';

export const CPU_GROUPS = ['workers', 'postgres', 'redis', 'double'] as const;
export type CpuGroup = (typeof CPU_GROUPS)[number];

/** What the bench's own processes are, besides this one. */
export interface CpuScope {
  redisPid: number;
  doublePid: number;
  /** The bench's database: its backends' process title names it. */
  database: string;
}

/** CPU ms used so far, keyed `group:pid`, so a process that exits is left out of a delta. */
export function cpuTimes(scope: CpuScope): Record<string, number> {
  // schedstat: nanoseconds on a CPU, exact (stat's tick counts miss the short bursts a backend runs in).
  const onCpuMs = (pid: string) =>
    readdirSync(`/proc/${pid}/task`).reduce(
      (ms, tid) => ms + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6,
      0,
    );
  const procs = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        const title = comm === 'postgres' ? readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ') : '';
        return [{ pid: Number(pid), comm, ppid, title, ms: () => onCpuMs(pid) }];
      } catch {
        return []; // gone meanwhile
      }
    });
  const parent = new Map(procs.map((p) => [p.pid, p.ppid]));
  const under = (pid: number, root: number): boolean => {
    for (let p: number | undefined = pid; p; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  // A backend's title: "postgres: [cluster: ]user database host(port) state".
  const ourBackend = ` ${scope.database} `;
  const groupOf = (p: { pid: number; comm: string; title: string }): CpuGroup | undefined => {
    if (p.pid === process.pid) return 'workers';
    if (p.comm === 'postgres') return p.title.includes(ourBackend) ? 'postgres' : undefined;
    if (p.pid === scope.redisPid) return 'redis';
    if (under(p.pid, scope.doublePid)) return 'double';
    return undefined;
  };
  const out: Record<string, number> = {};
  for (const p of procs) {
    const group = groupOf(p);
    if (!group) continue;
    try {
      out[`${group}:${p.pid}`] = p.ms();
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU ms per group between two cpuTimes() readings. */
export function cpuSpent(before: Record<string, number>, after: Record<string, number>): Record<CpuGroup, number> {
  const spent: Record<CpuGroup, number> = { workers: 0, postgres: 0, redis: 0, double: 0 };
  for (const [key, ms] of Object.entries(after)) {
    const group = key.slice(0, key.indexOf(':')) as CpuGroup;
    spent[group] += ms - (before[key] ?? 0);
  }
  return spent;
}
