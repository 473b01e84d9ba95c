import net from 'node:net';
import globalSetup from './global-setup';
import { createThrowawayCluster, type ThrowawayCluster } from './throwaway-cluster';

/**
 * `npm run test:routability`: a scratch cluster of its own with pg_stat_statements loaded (nested statements
 * tracked too: the posting functions' own SQL counts), the suite's template migrated into it, then the usual
 * per-file clones. It listens on the first free port of ROUTABILITY_PORTS.
 */
export const ROUTABILITY_PORTS = { first: 55440, last: 55449 };

async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function firstFreePort(): Promise<number> {
  for (let port = ROUTABILITY_PORTS.first; port <= ROUTABILITY_PORTS.last; port += 1) {
    if (await isFree(port)) return port;
  }
  throw new Error(`no free port in ${ROUTABILITY_PORTS.first}-${ROUTABILITY_PORTS.last} for the routability cluster`);
}

export default async function routabilitySetup(): Promise<void> {
  const cluster = await createThrowawayCluster({
    port: await firstFreePort(),
    settings: {
      shared_preload_libraries: 'pg_stat_statements',
      'pg_stat_statements.track': 'all',
      'pg_stat_statements.track_utility': 'off',
      'pg_stat_statements.max': '20000',
    },
  });
  (globalThis as { __RL_ROUTABILITY__?: ThrowawayCluster }).__RL_ROUTABILITY__ = cluster;
  process.env.TEST_DATABASE_URL = cluster.url('postgres');
  await globalSetup();
}
