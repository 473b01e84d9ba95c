import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Where the suite's databases live. Global setup writes these variables; every test file reads them
 * and clones its own database from the migrated template, so files never see each other's rows.
 */
export const ADMIN_URL_VAR = 'RL_TEST_ADMIN_URL';
export const TEMPLATE_VAR = 'RL_TEST_TEMPLATE';

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
  if (!adminUrl || !template) throw new Error('test databases are prepared by test/support/global-setup.ts; run the suite with jest');
  const name = `${template}_f_${randomBytes(4).toString('hex')}`;
  await withAdminClient(adminUrl, (client) => client.query(`CREATE DATABASE "${name}"${fromTemplate ? ` TEMPLATE "${template}"` : ''}`));
  return {
    url: databaseUrl(adminUrl, name),
    drop: () => withAdminClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}
