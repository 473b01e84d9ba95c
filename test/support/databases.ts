import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../src/platform/migrations';

/**
 * Where the suite's databases live. Global setup writes these variables; every test file reads them
 * and clones its own database from the migrated template, so files never see each other's rows.
 */
export const ADMIN_URL_VAR = 'RL_TEST_ADMIN_URL';
export const TEMPLATE_VAR = 'RL_TEST_TEMPLATE';
/**
 * TEST_DATABASE_FRESH=1 builds every test file's database from nothing (create, migrate) instead of
 * cloning the template: on Citus, whose background connections to a database keep it from being a
 * template, and which needs the database on every node. Global setup then writes the Citus workers it
 * found registered in TEST_DATABASE_URL's database (empty for plain Postgres) to CITUS_WORKERS_VAR.
 */
export const FRESH_VAR = 'TEST_DATABASE_FRESH';
export const CITUS_WORKERS_VAR = 'RL_TEST_CITUS_WORKERS';
/** Shards per table in a Citus test database: two per worker, enough to prove every statement is routed. */
const CITUS_TEST_SHARD_COUNT = 4;

/** Whether the suite runs on a Citus cluster (a fresh database per file, distributed by db:distribute). */
export function isCitusSuite(): boolean {
  return (process.env[CITUS_WORKERS_VAR] ?? '') !== '';
}

function citusWorkers(): Array<{ host: string; port: number }> {
  return (process.env[CITUS_WORKERS_VAR] ?? '')
    .split(',')
    .filter((entry) => entry !== '')
    .map((entry) => {
      const at = entry.lastIndexOf(':');
      return { host: entry.slice(0, at), port: Number(entry.slice(at + 1)) };
    });
}

/** The admin URL of every node the suite's databases live on: the coordinator first, then the Citus workers. */
export function suiteNodeAdminUrls(adminUrl: string): string[] {
  return [adminUrl, ...citusWorkers().map((worker) => nodeAdminUrl(adminUrl, worker))];
}

function nodeAdminUrl(adminUrl: string, node: { host: string; port: number }): string {
  const url = new URL(adminUrl);
  url.hostname = node.host;
  url.port = String(node.port);
  return url.toString();
}

export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function withAdminClient<T>(adminUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty, migrated database for one test file and returns its URL and a drop function. */
export function cloneTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  return createTestDatabase(true);
}

/**
 * Creates a database with no migrations applied, for tests of migrations themselves. Named like the clones,
 * so global teardown sweeps it if its test file crashes before dropping it.
 */
export function emptyTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  return createTestDatabase(false);
}

async function createTestDatabase(fromTemplate: boolean): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = process.env[ADMIN_URL_VAR];
  const template = process.env[TEMPLATE_VAR];
  if (!adminUrl || !template)
    throw new Error('test databases are prepared by test/support/global-setup.ts; run the suite with jest');
  const name = `${template}_f_${randomBytes(4).toString('hex')}`;
  if (process.env[FRESH_VAR] === '1') return createFreshDatabase(adminUrl, name, fromTemplate);
  await withAdminClient(adminUrl, (client) =>
    client.query(`CREATE DATABASE "${name}"${fromTemplate ? ` TEMPLATE "${template}"` : ''}`),
  );
  return {
    url: databaseUrl(adminUrl, name),
    drop: () =>
      withAdminClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}

/**
 * A database built from nothing on the coordinator and, on Citus, on every worker: the extension in each,
 * the workers registered in it, then migrated and distributed exactly as `db:migrate` and `db:distribute`
 * do in a deployment.
 */
async function createFreshDatabase(
  adminUrl: string,
  name: string,
  migrated: boolean,
): Promise<{ url: string; drop(): Promise<void> }> {
  const workers = citusWorkers();
  const nodeAdminUrls = suiteNodeAdminUrls(adminUrl);
  const url = databaseUrl(adminUrl, name);
  const drop = async () => {
    // The coordinator first: its connections to the workers' copies go with it.
    for (const nodeUrl of nodeAdminUrls) {
      await withAdminClient(nodeUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    }
  };
  try {
    for (const nodeUrl of nodeAdminUrls) {
      await withAdminClient(nodeUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
    }
    if (workers.length > 0) {
      for (const nodeUrl of nodeAdminUrls) {
        await withAdminClient(databaseUrl(nodeUrl, name), (client) => client.query('CREATE EXTENSION citus'));
      }
      const coordinator = new URL(adminUrl);
      await withAdminClient(url, async (client) => {
        await client.query('SELECT citus_set_coordinator_host($1, $2)', [
          coordinator.hostname,
          Number(coordinator.port),
        ]);
        for (const worker of workers) await client.query('SELECT citus_add_node($1, $2)', [worker.host, worker.port]);
      });
    }
    if (migrated) {
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      try {
        await migrate(pool);
      } finally {
        await pool.end();
      }
      if (workers.length > 0) {
        // Loaded here, not at the top: global setup imports this file outside jest's module mapping.
        const { distributeSchema } = await import('../../src/platform/distribution.repository.js');
        await withAdminClient(url, (client) => distributeSchema(client, { shardCount: CITUS_TEST_SHARD_COUNT }));
      }
    }
  } catch (error) {
    await drop().catch(() => undefined);
    throw error;
  }
  return { url, drop };
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}
