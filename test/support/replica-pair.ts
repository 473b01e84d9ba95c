import { execFile, execFileSync } from 'node:child_process';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { PG_BIN } from './auto-failover';
import { freePort } from './global-setup';

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;

/**
 * A throwaway primary and a streaming hot standby of it (pg_basebackup -R -X stream), on loopback ports
 * under a scratch directory, with the machine's PostgreSQL binaries (PG_BIN). The machine's own server is not
 * used: its pg_hba.conf has no `replication` line. Postgres refuses to run as root, so as root every
 * command runs as the `postgres` OS user, who owns the scratch directory.
 */
export interface ReplicaPair {
  primaryUrl(database: string): string;
  replicaUrl(database: string): string;
  replicaPort: number;
  /** Stops replaying WAL on the standby (pg_wal_replay_pause), so it lags as far as the test likes. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /** The standby's replay position and the primary's insert position. */
  positions(): Promise<{ replayed: string; primary: string }>;
  stopReplica(): Promise<void>;
  startReplica(): Promise<void>;
  destroy(): Promise<void>;
}

export function replicaToolsMissing(): string | null {
  for (const binary of ['initdb', 'pg_ctl', 'pg_basebackup']) {
    try {
      execFileSync('test', ['-x', path.join(PG_BIN, binary)]);
    } catch {
      return `${PG_BIN}/${binary} is missing (PG_BIN names the directory)`;
    }
  }
  return null;
}

export async function createReplicaPair(database: string): Promise<ReplicaPair> {
  const dir = await mkdtemp(path.join(asRoot ? '/tmp' : os.tmpdir(), 'rl-replica-'));
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    await chown(dir, uid, gid);
  }
  await chmod(dir, 0o700);
  const exec = (binary: string, args: string[]) => {
    const full = path.join(PG_BIN, binary);
    return asRoot
      ? run('runuser', ['-u', 'postgres', '--', full, ...args], { cwd: dir })
      : run(full, args, { cwd: dir });
  };
  const primaryData = path.join(dir, 'primary');
  const replicaData = path.join(dir, 'replica');
  const primaryPort = await freePort();
  const replicaPort = await freePort();
  const options = (port: number) =>
    `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c wal_level=replica -c max_wal_senders=4 -c hot_standby=on`;
  const start = (data: string, port: number, log: string) =>
    exec('pg_ctl', ['-D', data, '-w', '-t', '30', '-l', path.join(dir, log), '-o', options(port), 'start']);
  const stop = (data: string) => exec('pg_ctl', ['-D', data, '-w', '-m', 'fast', 'stop']);

  await exec('initdb', ['-D', primaryData, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  // initdb's pg_hba.conf already trusts local and loopback replication connections.
  await start(primaryData, primaryPort, 'primary.log');
  await exec('createdb', ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', database]);
  await exec('pg_basebackup', [
    '-h',
    '127.0.0.1',
    '-p',
    String(primaryPort),
    '-U',
    'postgres',
    '-D',
    replicaData,
    '-R',
    '-X',
    'stream',
    // An immediate checkpoint: the default spreads it over checkpoint_timeout, a minute and more here.
    '--checkpoint=fast',
    '--no-sync',
  ]);
  await start(replicaData, replicaPort, 'replica.log');

  const primaryUrl = (name: string) => `postgresql://postgres@127.0.0.1:${primaryPort}/${name}`;
  const replicaUrl = (name: string) => `postgresql://postgres@127.0.0.1:${replicaPort}/${name}`;
  const onReplica = async <T>(sql: string): Promise<T> => {
    const client = new pg.Client({ connectionString: replicaUrl(database), application_name: 'test-control' });
    await client.connect();
    try {
      return (await client.query(sql)).rows[0] as T;
    } finally {
      await client.end();
    }
  };
  const { recovery } = await onReplica<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
  if (!recovery) throw new Error('the replica is not in recovery: not a hot standby');

  return {
    primaryUrl,
    replicaUrl,
    replicaPort,
    pauseReplay: async () => {
      await onReplica('SELECT pg_wal_replay_pause()');
    },
    resumeReplay: async () => {
      await onReplica('SELECT pg_wal_replay_resume()');
    },
    positions: async () => {
      const { replayed } = await onReplica<{ replayed: string }>('SELECT pg_last_wal_replay_lsn()::text AS replayed');
      const client = new pg.Client({ connectionString: primaryUrl(database) });
      await client.connect();
      try {
        const { rows } = await client.query('SELECT pg_current_wal_insert_lsn()::text AS primary');
        return { replayed, primary: rows[0].primary as string };
      } finally {
        await client.end();
      }
    },
    stopReplica: async () => {
      await stop(replicaData);
    },
    startReplica: async () => {
      await start(replicaData, replicaPort, 'replica.log');
    },
    destroy: async () => {
      await stop(replicaData).catch(() => undefined);
      await stop(primaryData).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
