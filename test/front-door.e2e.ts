import { execFile, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './support/global-setup';
import { type ServerProcess, watchServer } from './support/process';

/**
 * The README's front door, as a newcomer meets it: a fresh clone, `npm install`, `npm start`, a query, a
 * restart that still has the data. Once as root in a 0700 folder (the embedded database runs as another OS
 * user, which cannot enter it), once as an unprivileged user in their own home. It installs from the
 * registry, so it runs apart from `npm test`: `npm run test:front-door`, which CI runs. It clones the
 * committed HEAD.
 */
const run = promisify(execFile);
const NEWCOMER = 'rl-newcomer';
const STEP_TIMEOUT_MS = 8 * 60_000;

interface Person {
  uid: number;
  gid: number;
  home: string;
}

let bundleDir: string;
let bundle: string;
beforeAll(async () => {
  // A bundle of HEAD in a folder anyone may read, so that either person clones it themselves.
  bundleDir = await mkdtemp(path.join(os.tmpdir(), 'rl-front-door-'));
  await chmod(bundleDir, 0o755);
  bundle = path.join(bundleDir, 'reward-ledger.bundle');
  await run('git', ['bundle', 'create', bundle, 'HEAD'], { cwd: path.resolve(__dirname, '..') });
  await chmod(bundle, 0o644);
});
afterAll(async () => {
  await rm(bundleDir, { recursive: true, force: true });
});

/** The environment a person's own shell would have: none of this test's npm or database variables. */
function loginEnv(person: Person | null, home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    LANG: process.env.LANG ?? 'C.UTF-8',
    HOME: home,
    ...(person ? { USER: NEWCOMER, LOGNAME: NEWCOMER } : { USER: 'root', LOGNAME: 'root' }),
  };
}

async function asPerson(person: Person | null, home: string, cwd: string, file: string, args: string[]): Promise<void> {
  await run(file, args, { cwd, env: loginEnv(person, home), maxBuffer: 64 * 1024 * 1024, ...(person ? { uid: person.uid, gid: person.gid } : {}) });
}

async function npmStart(person: Person | null, home: string, checkout: string, pgPort: number): Promise<ServerProcess> {
  const child = spawn('npm', ['start'], {
    cwd: checkout,
    env: { ...loginEnv(person, home), PORT: '0', EMBEDDED_PG_PORT: String(pgPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...(person ? { uid: person.uid, gid: person.gid } : {}),
  });
  return watchServer(child, { group: true, startTimeoutMs: STEP_TIMEOUT_MS });
}

async function gql(url: string, secret: string, query: string): Promise<any> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` }, body: JSON.stringify({ query }) });
  return response.json();
}

function dataDirPrinted(server: ServerProcess): string {
  const match = /data in (\S+)\)/.exec(server.output());
  if (!match) throw new Error(`npm start did not say where its data lives:\n${server.output()}`);
  return match[1]!;
}

/**
 * SIGINT to the whole group, as a terminal sends it. npm itself then ends by that signal; the server under
 * it shuts down in order, and its database is stopped cleanly once no postmaster.pid is left.
 */
async function pressCtrlC(server: ServerProcess, dataDir: string): Promise<void> {
  expect([0, 'SIGINT']).toContain(await server.stop('SIGINT'));
  const deadline = Date.now() + 30_000;
  while (existsSync(path.join(dataDir, 'postmaster.pid')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
  expect(existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(false);
  expect(server.output()).toContain('shutting down');
}

/** Clones, installs, starts, writes, restarts and reads back; answers where the data lived. */
async function walkThroughFrontDoor(person: Person | null, home: string, parent: string): Promise<string> {
  const checkout = path.join(parent, 'x');
  await asPerson(person, home, parent, 'git', ['clone', '-q', bundle, checkout]);
  await asPerson(person, home, checkout, 'npm', ['install', '--no-audit', '--no-fund']);
  const pgPort = await freePort();

  const first = await npmStart(person, home, checkout, pgPort);
  const adminKey = (await readFile(path.join(checkout, '.data', 'admin-api-key'), 'utf8')).trim();
  expect(first.output()).toContain(`Authorization: Bearer ${adminKey}`);
  const dataDir = dataDirPrinted(first);
  const created = await gql(first.url, adminKey, 'mutation { createLedger(input: { code: "front-door", name: "Front door" }) { id } }');
  expect(created.errors).toBeUndefined();
  await pressCtrlC(first, dataDir);

  const second = await npmStart(person, home, checkout, pgPort);
  expect(dataDirPrinted(second)).toBe(dataDir);
  const found = await gql(second.url, adminKey, '{ ledger(code: "front-door") { id } }');
  expect(found).toEqual({ data: { ledger: { id: created.data.createLedger.id } } });
  await pressCtrlC(second, dataDir);
  expect(existsSync(path.join(dataDir, 'PG_VERSION'))).toBe(true);
  return dataDir;
}

it(
  'opens from a fresh clone in a 0700 folder as root, keeping its data where the database user can reach it',
  async () => {
    if (process.getuid?.() !== 0) throw new Error('this case needs root, as on the project machines and in CI');
    const parent = await mkdtemp(path.join(os.tmpdir(), 'rl-root-home-'));
    expect(statSync(parent).mode & 0o777).toBe(0o700);
    let dataDir: string | undefined;
    try {
      dataDir = await walkThroughFrontDoor(null, process.env.HOME ?? '/root', parent);
      // The database user cannot enter the clone, so the data lives in a folder of this checkout's own.
      expect(dataDir.startsWith('/var/lib/reward-ledger/x-')).toBe(true);
      expect(dataDir.endsWith('/postgres')).toBe(true);
    } finally {
      await rm(parent, { recursive: true, force: true });
      if (dataDir) await rm(path.dirname(dataDir), { recursive: true, force: true });
    }
  },
  3 * STEP_TIMEOUT_MS,
);

it(
  'opens from a fresh clone in an unprivileged user’s own home, keeping its data in ./.data',
  async () => {
    if (process.getuid?.() !== 0) throw new Error('this case creates its user, which needs root');
    const existed = await run('id', ['-u', NEWCOMER]).then(
      () => true,
      () => false,
    );
    if (!existed) await run('useradd', ['--create-home', '--shell', '/bin/bash', NEWCOMER]);
    const [{ stdout: uid }, { stdout: gid }, { stdout: passwd }] = await Promise.all([run('id', ['-u', NEWCOMER]), run('id', ['-g', NEWCOMER]), run('getent', ['passwd', NEWCOMER])]);
    const person: Person = { uid: Number(uid), gid: Number(gid), home: passwd.trim().split(':')[5]! };
    const checkout = path.join(person.home, 'x');
    try {
      await rm(checkout, { recursive: true, force: true });
      const dataDir = await walkThroughFrontDoor(person, person.home, person.home);
      expect(dataDir).toBe(path.join(checkout, '.data', 'postgres'));
    } finally {
      await rm(checkout, { recursive: true, force: true });
      if (!existed) await run('userdel', ['--remove', NEWCOMER]).catch(() => undefined);
    }
  },
  3 * STEP_TIMEOUT_MS,
);
