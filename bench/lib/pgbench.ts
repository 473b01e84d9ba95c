import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * PostgreSQL's own TPC-B-like benchmark, the yardstick: per transaction it updates an account, a
 * teller and a branch balance and inserts a history row. At scale 1 every transaction updates the one
 * branch row: a single hot row, like a hot system account.
 */
const run = promisify(execFile);

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
}

export interface PgbenchOptions {
  clients: number;
  threads: number;
  seconds: number;
  /** `simple` is pgbench's default; `prepared` uses named prepared statements. */
  protocol: 'simple' | 'prepared';
  /** A custom script instead of the built-in TPC-B-like one (then no vacuum of pgbench's tables). */
  scriptFile?: string;
}

export async function pgbenchRun(binary: string, url: string, options: PgbenchOptions): Promise<PgbenchRun> {
  const script = options.scriptFile ? ['-n', '-f', options.scriptFile] : [];
  const args = ['-c', String(options.clients), '-j', String(options.threads), '-T', String(options.seconds), '-M', options.protocol, ...script, url];
  const { stdout } = await run(binary, args, { timeout: (options.seconds + 120) * 1000 });
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
  };
}
