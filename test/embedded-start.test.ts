import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './support/global-setup';
import { MAIN, startServerProcess, type ServerProcess } from './support/process';

/** Starts the built server with no DATABASE_URL, so it brings up its embedded PostgreSQL. */
function start(dataDir: string, pgPort: number): Promise<ServerProcess> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    EMBEDDED_PG_PORT: String(pgPort),
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    // `npm start`'s default, one worker per core: the front door as a developer meets it.
    WEB_CONCURRENCY: '',
  };
  delete env.DATABASE_URL;
  delete env.ADMIN_API_KEY;
  delete env.TOKEN_SECRET;
  return startServerProcess(env, { inherit: false });
}

async function gql(url: string, secret: string, query: string): Promise<any> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: JSON.stringify({ query }),
  });
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
  expect(first.output()).toContain(`export ADMIN_API_KEY=${adminKey}\n`);
  expect(first.output()).toContain(`embedded PostgreSQL on 127.0.0.1:${pgPort}`);
  const created = await gql(
    first.url,
    adminKey,
    'mutation { createLedger(input: { code: "embedded-smoke", name: "Smoke" }) { id } }',
  );
  expect(created.errors).toBeUndefined();
  // Development on the embedded database: GraphiQL starts with the generated admin key, and a
  // customer-token key is generated beside it.
  const graphiql = await fetch(first.url.replace('/graphql', '/graphiql')).then((response) => response.text());
  expect(graphiql).toContain(`Bearer ${adminKey}`);
  const tokenSecret = (await readFile(path.join(dataDir, 'token-secret'), 'utf8')).trim();
  expect(tokenSecret.length).toBeGreaterThanOrEqual(32);
  expect(first.output()).not.toContain(tokenSecret);
  // So is the key that encrypts webhook secrets: webhooks work on a developer's embedded server.
  const webhookKey = (await readFile(path.join(dataDir, 'webhook-secret-key'), 'utf8')).trim();
  expect(webhookKey.length).toBeGreaterThanOrEqual(32);
  expect(first.output()).not.toContain(webhookKey);
  // And the key gift card codes are stored under: gift cards work there too.
  const giftCardKey = (await readFile(path.join(dataDir, 'gift-card-key'), 'utf8')).trim();
  expect(giftCardKey.length).toBeGreaterThanOrEqual(32);
  expect(first.output()).not.toContain(giftCardKey);
  expect(first.output()).toContain(`the key generated in ${path.join(dataDir, 'gift-card-key')}`);
  expect(await fetch(first.url.replace('/graphql', '/readyz')).then((response) => response.status)).toBe(200);
  expect(await first.stop('SIGTERM')).toBe(0);

  const second = await start(dataDir, pgPort);
  const found = await gql(second.url, adminKey, '{ ledger(code: "embedded-smoke") { id } }');
  expect(found.data.ledger.id).toBe(created.data.createLedger.id);
  expect((await readFile(path.join(dataDir, 'token-secret'), 'utf8')).trim()).toBe(tokenSecret);
  expect((await readFile(path.join(dataDir, 'webhook-secret-key'), 'utf8')).trim()).toBe(webhookKey);
  expect((await readFile(path.join(dataDir, 'gift-card-key'), 'utf8')).trim()).toBe(giftCardKey);
  expect(await second.stop('SIGINT')).toBe(0);
  // The embedded cluster was stopped cleanly: no postmaster.pid is left behind.
  expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
}, 120_000);

it('says in one line why the embedded PostgreSQL cannot start, and exits non-zero', async () => {
  const pgPort = await freePort();
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(pgPort, '127.0.0.1', resolve));
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATA_DIR: path.join(dataDir, 'port-taken'),
      EMBEDDED_PG_PORT: String(pgPort),
      PORT: '0',
      NODE_ENV: 'development',
    };
    delete env.DATABASE_URL;
    const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stdout).toBe('');
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`Cannot start the embedded PostgreSQL on 127.0.0.1:${pgPort}`);
    expect(lines[0]).toContain('the port is taken: set EMBEDDED_PG_PORT to a free one');
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
}, 60_000);
