import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './support/global-setup';
import { startServerProcess, stopServerProcess, type ServerProcess } from './support/process';

/** Starts the built server with no DATABASE_URL, so it brings up its embedded PostgreSQL. */
function start(dataDir: string, pgPort: number): Promise<ServerProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort), NODE_ENV: 'development', LOG_LEVEL: 'info' };
  delete env.DATABASE_URL;
  delete env.ADMIN_API_KEY;
  return startServerProcess(env);
}

async function gql(url: string, secret: string, query: string): Promise<any> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` }, body: JSON.stringify({ query }) });
  return response.json();
}

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'rl-embedded-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

it('starts on an embedded PostgreSQL, prints the generated admin key, and keeps its data across a restart', async () => {
  const pgPort = await freePort();
  const first = await start(dataDir, pgPort);
  const adminKey = (await readFile(path.join(dataDir, 'admin-api-key'), 'utf8')).trim();
  expect(first.output()).toContain(`Authorization: Bearer ${adminKey}`);
  expect(first.output()).toContain(`embedded PostgreSQL on 127.0.0.1:${pgPort}`);
  const created = await gql(first.url, adminKey, 'mutation { createLedger(input: { code: "embedded-smoke", name: "Smoke" }) { id } }');
  expect(created.errors).toBeUndefined();
  expect(await fetch(first.url.replace('/graphql', '/readyz')).then((response) => response.status)).toBe(200);
  expect(await stopServerProcess(first, 'SIGTERM')).toBe(0);

  const second = await start(dataDir, pgPort);
  const found = await gql(second.url, adminKey, '{ ledger(code: "embedded-smoke") { id } }');
  expect(found.data.ledger.id).toBe(created.data.createLedger.id);
  expect(await stopServerProcess(second, 'SIGINT')).toBe(0);
  // The embedded cluster was stopped cleanly: no postmaster.pid is left behind.
  expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
}, 120_000);
