import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import {
  canEnter,
  databaseUser,
  EMBEDDED_RUNTIME_ROOT,
  EmbeddedPostgresError,
  firstLine,
  mkdirReachable,
  postgresBinaries,
  type DatabaseUser,
  // No `.js` suffix: jest's global set-up loads this file without the moduleNameMapper that strips it.
} from './postgres-binaries';

export { EmbeddedPostgresError } from './postgres-binaries';

/**
 * A real PostgreSQL 18 shipped in npm packages, for `npm start` and `npm test` on a machine without
 * a database. Data persists in `dataDir`, so a restart finds its ledgers again.
 */
export interface EmbeddedPostgres {
  /** Where the cluster's files are: the requested folder, or its stand-in the database user can reach. */
  dataDir: string;
  connectionString(database: string): string;
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';
// The cluster listens on loopback only, so this password guards nothing reachable from outside.
const PASSWORD = 'reward-ledger-embedded';
// Long enough for a first start on a slow disk; a cluster that is not ready by then is not coming up.
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
// How many of the server's own log lines an error quotes.
const LOG_TAIL_LINES = 3;

export async function startEmbeddedPostgres(options: { dataDir: string; port: number; onLog?: (line: string) => void }): Promise<EmbeddedPostgres> {
  if (options.port === 5432) throw new EmbeddedPostgresError('The embedded PostgreSQL must not take port 5432: it belongs to the system PostgreSQL; set EMBEDDED_PG_PORT');
  const log = options.onLog ?? (() => undefined);
  const user = await databaseUser();
  const binaries = await postgresBinaries(user);
  const dataDir = await reachableDataDir(path.resolve(options.dataDir), user);

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await initialise(binaries.binDir, dataDir, user, log);
  const server = await startServer(binaries.binDir, dataDir, options.port, user, log);

  return {
    dataDir,
    connectionString: (database) => `postgresql://${SUPERUSER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${options.port}/${database}`,
    stop: () => stopServer(server),
  };
}

/**
 * The folder for the cluster's files. Root runs the database as another OS user, which must be able to
 * enter every folder above its data: where it cannot (a clone under root's 0700 home), the data lives in a
 * folder of this checkout's own under EMBEDDED_RUNTIME_ROOT instead, named after the requested path so each
 * checkout keeps its own database across restarts.
 */
async function reachableDataDir(requested: string, user: DatabaseUser | null): Promise<string> {
  if (user === null) {
    await mkdir(requested, { recursive: true, mode: 0o700 });
    return requested;
  }
  let dataDir = requested;
  await mkdirReachable(path.dirname(requested));
  if (!canEnter(user, path.dirname(requested))) {
    dataDir = path.join(EMBEDDED_RUNTIME_ROOT, checkoutFolderName(requested), 'postgres');
    await mkdirReachable(EMBEDDED_RUNTIME_ROOT);
    await mkdirReachable(path.dirname(dataDir));
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chown(dataDir, user.uid, user.gid);
  return dataDir;
}

/** `<folder above .data>-<hash of the full path>`: readable by a person, unique per path. */
export function checkoutFolderName(requestedDataDir: string): string {
  const hash = createHash('sha256').update(requestedDataDir).digest('hex').slice(0, 12);
  const checkout = path.basename(path.dirname(path.dirname(requestedDataDir))) || 'root';
  return `${checkout.replace(/[^A-Za-z0-9._-]/g, '_')}-${hash}`;
}

/** Spawn options that run a PostgreSQL program as `user`, from a folder it can enter. */
function runAs(user: DatabaseUser | null, dataDir: string) {
  // LC_MESSAGES=C: the server's messages are matched below and quoted in errors, in English.
  return { ...(user ? { uid: user.uid, gid: user.gid } : {}), cwd: path.dirname(dataDir), env: { ...process.env, LC_MESSAGES: 'C' } };
}

async function initialise(binDir: string, dataDir: string, user: DatabaseUser | null, log: (line: string) => void): Promise<void> {
  // initdb reads the superuser's password from a file the database user can read; it lives beside the data.
  const passwordFile = path.join(path.dirname(dataDir), `.pg-password-${process.pid}`);
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  if (user) await chown(passwordFile, user.uid, user.gid);
  try {
    const args = [`--pgdata=${dataDir}`, '--auth=password', `--username=${SUPERUSER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--no-locale'];
    const output: string[] = [];
    const code = await new Promise<number | string>((resolve, reject) => {
      const child = spawn(path.join(binDir, 'initdb'), args, { ...runAs(user, dataDir), stdio: ['ignore', 'pipe', 'pipe'] });
      collectLines(child, (line) => {
        output.push(line);
        log(line);
      });
      child.once('error', (error) => reject(new EmbeddedPostgresError(`Cannot initialise the embedded PostgreSQL in ${dataDir}: ${firstLine(error)}; set DATABASE_URL to use another PostgreSQL`)));
      child.once('close', (exitCode, signal) => resolve(exitCode ?? signal ?? 'unknown'));
    });
    if (code !== 0) {
      throw new EmbeddedPostgresError(
        `Cannot initialise the embedded PostgreSQL in ${dataDir}: initdb exited with ${code} (${tail(output)}); remove that folder to start afresh, or set DATABASE_URL`,
      );
    }
  } finally {
    await rm(passwordFile, { force: true });
  }
}

interface RunningServer {
  child: ChildProcess;
  exited: Promise<void>;
}

async function startServer(binDir: string, dataDir: string, port: number, user: DatabaseUser | null, log: (line: string) => void): Promise<RunningServer> {
  const args = ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'lc_messages=C'];
  const child = spawn(path.join(binDir, 'postgres'), args, { ...runAs(user, dataDir), stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const output: string[] = [];
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGQUIT');
      reject(new EmbeddedPostgresError(`Cannot start the embedded PostgreSQL on 127.0.0.1:${port} with data in ${dataDir}: ${why}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${START_TIMEOUT_MS / 1000} s (${tail(output)})`), START_TIMEOUT_MS);
    collectLines(child, (line) => {
      output.push(line);
      log(line);
      if (!settled && line.includes('database system is ready to accept connections')) {
        settled = true;
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (error) => fail(`${firstLine(error)}; set DATABASE_URL to use another PostgreSQL`));
    child.once('close', (code, signal) => fail(`it exited with ${code ?? signal} (${tail(output)}); ${advice(output)}`));
  });
  // Should this process end without stopping the cluster (an uncaught error), the cluster ends with it.
  const stopOnExit = () => child.kill('SIGINT');
  process.once('exit', stopOnExit);
  void exited.then(() => process.removeListener('exit', stopOnExit));
  return { child, exited };
}

/** What a person can do about the usual reasons a cluster will not start. */
function advice(output: string[]): string {
  const text = output.join('\n');
  if (/could not bind|Address already in use/.test(text)) return 'the port is taken: set EMBEDDED_PG_PORT to a free one';
  if (/lock file .* already exists/.test(text)) return 'another PostgreSQL is using that data folder: stop it first';
  if (/database files are incompatible/.test(text)) return 'the data folder was made by another PostgreSQL version: move it away to start afresh';
  return 'set DATABASE_URL to use another PostgreSQL';
}

async function stopServer(server: RunningServer): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  // SIGINT is PostgreSQL's fast shutdown: open sessions are ended and the cluster is left consistent.
  server.child.kill('SIGINT');
  const timer = setTimeout(() => server.child.kill('SIGQUIT'), STOP_TIMEOUT_MS);
  await server.exited;
  clearTimeout(timer);
}

function collectLines(child: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    let pending = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') onLine(line);
    });
  }
}

/** The lines of a PostgreSQL program's output that say what went wrong, without their timestamps. */
function tail(lines: string[]): string {
  const bare = lines.map((line) => line.replace(/^\S+ \S+ \S+ \[\d+\] /, '').trim());
  const problems = bare.filter((line) => /^(FATAL|ERROR|PANIC)|could not|initdb: error/.test(line));
  const chosen = (problems.length > 0 ? problems : bare).slice(-LOG_TAIL_LINES);
  return chosen.length === 0 ? 'no output' : chosen.join('; ');
}

/** Creates `database` on the server behind `adminUrl` unless it exists. */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (rowCount === 0) await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}
