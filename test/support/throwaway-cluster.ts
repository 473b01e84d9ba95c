import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { databaseUser, postgresBinaries } from '../../src/platform/postgres-binaries';
import { freePort } from './global-setup';

const run = promisify(execFile);

export interface ThrowawayCluster {
  url(database: string): string;
  start(): Promise<void>;
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

export interface ThrowawayClusterOptions {
  /** The port to listen on; a free one by default. */
  port?: number;
  /** Server settings passed as `-c name=value` (e.g. shared_preload_libraries). */
  settings?: Record<string, string>;
}

/** A PostgreSQL cluster of the test's own, on a free port, that the test may stop and restart at will. */
export async function createThrowawayCluster(options: ThrowawayClusterOptions = {}): Promise<ThrowawayCluster> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rl-cluster-'));
  const data = path.join(dir, 'data');
  const port = options.port ?? (await freePort());
  const settings = Object.entries(options.settings ?? {})
    .map(([name, value]) => ` -c ${name}=${value}`)
    .join('');
  // The PostgreSQL binaries the embedded default ships, driven directly so a test can stop and start them;
  // as root they run as the database user, out of a copy it can reach if the checkout is out of its reach.
  const user = await databaseUser();
  const { binDir } = await postgresBinaries(user);
  const exec = (binary: string, args: string[]) =>
    run(path.join(binDir, binary), args, user ? { uid: user.uid, gid: user.gid } : {});
  if (user) {
    await chmod(dir, 0o755);
    await chown(dir, user.uid, user.gid);
  }
  await exec('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const cluster: ThrowawayCluster = {
    url: (database) => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    start: async () => {
      await exec('pg_ctl', [
        '-D',
        data,
        '-w',
        '-l',
        path.join(dir, 'log'),
        '-o',
        `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off${settings}`,
        'start',
      ]);
    },
    stop: async () => {
      await exec('pg_ctl', ['-D', data, '-w', '-m', 'fast', 'stop']);
    },
    destroy: async () => {
      await cluster.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await cluster.start();
  return cluster;
}
