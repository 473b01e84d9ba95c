import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { postOnce } from '../lib/http-client.js';
import { freePort, sleep, spawnServer, stopChild } from '../lib/server.js';
import { limitRow, type Scenario } from './scenario.js';

/**
 * S9: the start script (`node dist/main.js`, what `npm start` runs after its build step) on a new
 * embedded data directory until the first GraphQL query is answered; then a restart on the same data.
 * The build (`prestart`) is excluded: it is compilation, not start-up.
 */
const READY_TIMEOUT_MS = 60_000;
const POLL_MS = 10;
const FIRST_QUERY = { query: '{ ledgers(first: 1) { edges { node { id } } } }' };
const ADMIN_SECRET = 'bench-startup-admin-secret-0123456789';

async function timeToFirstAnswer(
  dataDir: string,
  logFile: string,
): Promise<{ ms: number; stop: () => Promise<number | null> }> {
  const port = await freePort();
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    EMBEDDED_PG_PORT: String(await freePort()),
    ADMIN_API_KEY: ADMIN_SECRET,
    LOG_LEVEL: 'warn',
    // One process, as S9 has always measured (workers add a fork and a schema build each, in parallel).
    WEB_CONCURRENCY: '1',
  };
  const startedAt = performance.now();
  const child = spawnServer({ env, logFile });
  const endpoint = { host: '127.0.0.1', port, path: '/graphql', authorization: `Bearer ${ADMIN_SECRET}` };
  while (performance.now() - startedAt < READY_TIMEOUT_MS) {
    if (child.exitCode !== null)
      throw new Error(`the server exited with ${child.exitCode} before answering; see ${logFile}`);
    try {
      const { status, json } = await postOnce(endpoint, FIRST_QUERY);
      if (status === 200 && json.data?.ledgers)
        return { ms: performance.now() - startedAt, stop: () => stopChild(child) };
    } catch {
      // Not listening yet.
    }
    await sleep(POLL_MS);
  }
  await stopChild(child);
  throw new Error(`no answer within ${READY_TIMEOUT_MS} ms; see ${logFile}`);
}

export const s9: Scenario = {
  id: 'S9',
  title: 'start on a new embedded data directory → first answered query; restart on existing data',
  phase: 'after',
  async measure(ctx) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rl-bench-start-'));
    // Run as root, the embedded Postgres drops to the postgres user, which must be able to enter the folder.
    await chmod(dir, 0o755);
    const logFile = path.join(os.tmpdir(), `${path.basename(dir)}.log`);
    try {
      const fresh = await timeToFirstAnswer(path.join(dir, 'data'), logFile);
      await fresh.stop();
      const restart = await timeToFirstAnswer(path.join(dir, 'data'), logFile);
      await restart.stop();
      ctx.log(`S9: fresh ${fresh.ms.toFixed(0)} ms, restart ${restart.ms.toFixed(0)} ms`);
      // The log is kept only when something failed.
      await rm(logFile, { force: true });
      return { figures: { freshMs: fresh.ms, restartMs: restart.ms } };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
  targets: (all) => [
    limitRow({
      scenario: 'S9',
      figure: 'new data directory → first answered query',
      value: all.S9?.freshMs === undefined ? undefined : all.S9.freshMs / 1000,
      unit: 's',
      atMost: 5,
    }),
    limitRow({
      scenario: 'S9',
      figure: 'restart on existing data → first answered query',
      value: all.S9?.restartMs === undefined ? undefined : all.S9.restartMs / 1000,
      unit: 's',
      atMost: 2,
    }),
  ],
};
