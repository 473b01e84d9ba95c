import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * A throwaway PostgreSQL cluster for profiling: `pg_stat_statements` needs `shared_preload_libraries`,
 * a server setting the machine's own Postgres must not have changed under it. Started from the same
 * server binaries, on a free port, with its data in a temporary directory that is removed afterwards.
 */
const run = promisify(execFile);

export interface ThrowawayCluster {
  adminUrl: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

export function findPostgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  for (const version of readdirSync(root).sort().reverse()) {
    const bin = path.join(root, version, 'bin');
    if (existsSync(path.join(bin, 'initdb')) && existsSync(path.join(bin, 'pg_ctl'))) return bin;
  }
  return null;
}

/** Runs a server binary as the `postgres` system user when we are root (Postgres refuses to run as root). */
async function asPostgres(binary: string, args: string[], timeoutMs = 120_000): Promise<string> {
  if (process.getuid?.() === 0) {
    const { stdout } = await run('runuser', ['-u', 'postgres', '--', binary, ...args], { timeout: timeoutMs });
    return stdout;
  }
  const { stdout } = await run(binary, args, { timeout: timeoutMs });
  return stdout;
}

export async function startThrowawayCluster(port: number, settings: Record<string, string>): Promise<ThrowawayCluster> {
  const bin = findPostgresBin();
  if (bin === null) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'rl-bench-pg-'));
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dataDir, Number(stdout.trim()), Number(gid.trim()));
  }
  const stop = async () => {
    await asPostgres(path.join(bin, 'pg_ctl'), ['-D', path.join(dataDir, 'data'), '-m', 'fast', '-w', 'stop']).catch(
      () => undefined,
    );
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await asPostgres(path.join(bin, 'initdb'), [
      '-D',
      path.join(dataDir, 'data'),
      '-A',
      'trust',
      '-U',
      'postgres',
      '-E',
      'UTF8',
      '--no-sync',
    ]);
    const options = [
      `-p ${port}`,
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${dataDir}`,
      ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`),
    ].join(' ');
    await asPostgres(path.join(bin, 'pg_ctl'), [
      '-D',
      path.join(dataDir, 'data'),
      '-o',
      options,
      '-l',
      path.join(dataDir, 'postgres.log'),
      '-w',
      'start',
    ]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { adminUrl: `postgresql://postgres@127.0.0.1:${port}/postgres`, port, dataDir, stop };
}
