import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startCpuWindow, type CpuWindow } from './proc.js';

/**
 * PostgreSQL's own TPC-B-like benchmark, the yardstick: per transaction it updates an account, a
 * teller and a branch balance and inserts a history row. At scale 1 every transaction updates the one
 * branch row: a single hot row, like a hot system account.
 */
const run = promisify(execFile);
const CPU_WINDOW_MARGIN_MS = 400;

export function findPgbench(): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(path.join(dir, 'pgbench'))) return path.join(dir, 'pgbench');
  }
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    for (const version of readdirSync(root).sort().reverse()) {
      const candidate = path.join(root, version, 'bin', 'pgbench');
      if (existsSync(candidate)) return candidate;
    }
  }
  return null;
}

export async function pgbenchVersion(binary: string): Promise<string> {
  const { stdout } = await run(binary, ['--version']);
  return stdout.trim();
}

export async function pgbenchInit(binary: string, url: string, scale: number): Promise<void> {
  await run(binary, ['-i', '-s', String(scale), '-q', url], { timeout: 300_000 });
}

export interface PgbenchRun {
  tps: number;
  latencyAverageMs: number;
  transactions: number;
  failed: number;
  /** Cores used during the run (server = pgbench itself), when a postmaster pid was given. */
  cpu: CpuWindow | null;
}

export interface PgbenchOptions {
  clients: number;
  threads: number;
  seconds: number;
  /** `simple` is pgbench's default; `prepared` uses named prepared statements. */
  protocol: 'simple' | 'prepared';
  /** A custom script instead of the built-in TPC-B-like one (then no vacuum of pgbench's tables). */
  scriptFile?: string;
  /** The cluster's postmaster, to account CPU during the run (null: the cluster is not on this machine). */
  postmasterPid?: number | null;
}

export async function pgbenchRun(binary: string, url: string, options: PgbenchOptions): Promise<PgbenchRun> {
  const script = options.scriptFile ? ['-n', '-f', options.scriptFile] : [];
  const args = [
    '-c',
    String(options.clients),
    '-j',
    String(options.threads),
    '-T',
    String(options.seconds),
    '-M',
    options.protocol,
    ...script,
    url,
  ];
  // The CPU window covers the steady part of the run: it opens once the clients are connected and closes
  // before pgbench and its backends exit (an exited process's CPU can no longer be read from /proc).
  let window: ReturnType<typeof startCpuWindow> | null = null;
  let cpu: CpuWindow | null = null;
  const timers: NodeJS.Timeout[] = [];
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = execFile(binary, args, { timeout: (options.seconds + 120) * 1000 }, (error, out) =>
      error ? reject(error) : resolve(out),
    );
    if (options.postmasterPid !== undefined && options.seconds >= 2) {
      timers.push(
        setTimeout(
          () => (window = startCpuWindow({ serverPid: child.pid, postmasterPid: options.postmasterPid })),
          CPU_WINDOW_MARGIN_MS,
        ),
      );
      timers.push(setTimeout(() => (cpu = window?.end() ?? null), options.seconds * 1000 - CPU_WINDOW_MARGIN_MS));
    }
  }).finally(() => timers.forEach(clearTimeout));
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  const latency = /latency average = ([\d.]+) ms/.exec(stdout);
  const processed = /number of transactions actually processed: (\d+)/.exec(stdout);
  const failed = /number of failed transactions: (\d+)/.exec(stdout);
  if (!tps || !latency) throw new Error(`could not read pgbench output:\n${stdout}`);
  return {
    tps: Number(tps[1]),
    latencyAverageMs: Number(latency[1]),
    transactions: processed ? Number(processed[1]) : NaN,
    failed: failed ? Number(failed[1]) : 0,
    cpu,
  };
}
