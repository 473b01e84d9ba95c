import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './support/global-setup';

const MAIN = path.resolve(__dirname, '../dist/main.js');

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Starts the built server the way `npm start` does, with no DATABASE_URL, and waits for it to listen. */
async function start(dataDir: string, pgPort: number): Promise<Started> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort), PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'development' };
  delete env.DATABASE_URL;
  delete env.ADMIN_API_KEY;
  const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 45_000);
    child.stdout!.on('data', () => {
      const match = /listening on (http:\/\/\S+\/graphql)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
  return { child, url, output: () => output };
}

function stop(started: Started, signal: NodeJS.Signals): Promise<number | null> {
  return new Promise((resolve) => {
    started.child.once('exit', (code) => resolve(code));
    started.child.kill(signal);
  });
}

async function gql(url: string, secret: string, query: string): Promise<any> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` }, body: JSON.stringify({ query }) });
  return response.json();
}

let dataDir: string;
beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: `npm test` builds it first (npm run build)');
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
  // Development on the embedded database: GraphiQL starts with the generated admin key, and a
  // customer-token key is generated beside it.
  const graphiql = await fetch(first.url.replace('/graphql', '/graphiql')).then((response) => response.text());
  expect(graphiql).toContain(`Bearer ${adminKey}`);
  const tokenSecret = (await readFile(path.join(dataDir, 'token-secret'), 'utf8')).trim();
  expect(tokenSecret.length).toBeGreaterThanOrEqual(32);
  expect(first.output()).not.toContain(tokenSecret);
  expect(await fetch(first.url.replace('/graphql', '/readyz')).then((response) => response.status)).toBe(200);
  expect(await stop(first, 'SIGTERM')).toBe(0);

  const second = await start(dataDir, pgPort);
  const found = await gql(second.url, adminKey, '{ ledger(code: "embedded-smoke") { id } }');
  expect(found.data.ledger.id).toBe(created.data.createLedger.id);
  expect((await readFile(path.join(dataDir, 'token-secret'), 'utf8')).trim()).toBe(tokenSecret);
  expect(await stop(second, 'SIGINT')).toBe(0);
  // The embedded cluster was stopped cleanly: no postmaster.pid is left behind.
  expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
}, 120_000);
