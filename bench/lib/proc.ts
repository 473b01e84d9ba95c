import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

/**
 * CPU accounting from /proc: who used the machine's cores during a measured window (the server, the
 * Postgres cluster, the load driver, everything). On a 2-core machine this tells which process a
 * throughput figure is bound by.
 */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  ppid: number;
  cpuTicks: number;
}

function readStat(pid: number): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces; fields after it are fixed.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null;
  }
}

/** CPU ticks by pid of a process and, optionally, all its direct children (a Postgres cluster is a postmaster and its children). */
export function processTreeTicks(pid: number, withChildren: boolean): Map<number, number> {
  const ticks = new Map<number, number>([[pid, readStat(pid)?.cpuTicks ?? 0]]);
  if (!withChildren) return ticks;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat && stat.ppid === pid) ticks.set(Number(entry), stat.cpuTicks);
  }
  return ticks;
}

/** Ticks used between two readings by the processes alive at the second (a process that exited in between is not counted). */
function ticksBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ticks] of after) total += Math.max(0, ticks - (before.get(pid) ?? 0));
  return total;
}

export function parentOf(pid: number): number | null {
  return readStat(pid)?.ppid ?? null;
}

/** Busy and total ticks of the whole machine. */
function machineTicks(): { busy: number; total: number } {
  const [line] = readFileSync('/proc/stat', 'utf8').split('\n');
  const values = line!.trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

export interface CpuWindow {
  /** Cores used on average over the window (1.0 = one core fully busy); with workers, the primary and them. */
  serverCores: number | null;
  /** The server's own process alone: with WEB_CONCURRENCY > 1, the primary without its workers. */
  serverOwnCores: number | null;
  postgresCores: number | null;
  driverCores: number | null;
  machineCores: number;
  machineCoresTotal: number;
}

export interface CpuTargets {
  serverPid?: number | null;
  /** Count the server's child processes too (its workers, WEB_CONCURRENCY > 1). */
  serverWithChildren?: boolean;
  postmasterPid?: number | null;
  driverPid?: number | null;
}

/** Starts a window; `end()` returns the average cores each party used during it. */
export function startCpuWindow(targets: CpuTargets): { end(): CpuWindow } {
  const startedAt = process.hrtime.bigint();
  const read = () => ({
    server: targets.serverPid ? processTreeTicks(targets.serverPid, targets.serverWithChildren ?? false) : null,
    serverOwn: targets.serverPid ? processTreeTicks(targets.serverPid, false) : null,
    postgres: targets.postmasterPid ? processTreeTicks(targets.postmasterPid, true) : null,
    driver: targets.driverPid ? processTreeTicks(targets.driverPid, false) : null,
    machine: machineTicks(),
  });
  const before = read();
  return {
    end() {
      const after = read();
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      const cores = (a: Map<number, number> | null, b: Map<number, number> | null) =>
        a === null || b === null ? null : ticksBetween(a, b) / TICKS_PER_SECOND / seconds;
      const machineTotal = after.machine.total - before.machine.total;
      const cpus = os.cpus().length;
      return {
        serverCores: cores(before.server, after.server),
        serverOwnCores: cores(before.serverOwn, after.serverOwn),
        postgresCores: cores(before.postgres, after.postgres),
        driverCores: cores(before.driver, after.driver),
        machineCores: machineTotal > 0 ? ((after.machine.busy - before.machine.busy) / machineTotal) * cpus : 0,
        machineCoresTotal: cpus,
      };
    },
  };
}

/** Cores busy on the whole machine over `ms`. */
export async function machineBusyCores(ms: number): Promise<number> {
  const before = machineTicks();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = machineTicks();
  const total = after.total - before.total;
  return total > 0 ? ((after.busy - before.busy) / total) * os.cpus().length : 0;
}

/**
 * Waits (bounded) until the machine is nearly idle before a measurement, because other work on a shared
 * 2-core machine moves every figure. Returns the busy cores seen last and how long it waited.
 */
export async function waitForQuiet(options: {
  busyCoresMax: number;
  waitMsMax: number;
  sampleMs?: number;
}): Promise<{ busyCores: number; waitedMs: number }> {
  const started = Date.now();
  for (;;) {
    const busyCores = await machineBusyCores(options.sampleMs ?? 400);
    const waitedMs = Date.now() - started;
    if (busyCores <= options.busyCoresMax || waitedMs >= options.waitMsMax) return { busyCores, waitedMs };
    await new Promise((resolve) => setTimeout(resolve, 600));
  }
}
