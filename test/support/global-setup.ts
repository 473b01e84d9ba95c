import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/platform/embedded-postgres';
import { migrate } from '../../src/platform/migrations';
import {
  ADMIN_URL_VAR,
  CITUS_WORKERS_VAR,
  FRESH_VAR,
  TEMPLATE_VAR,
  databaseUrl,
  uniqueName,
  withAdminClient,
} from './databases';

/** A free loopback port (never 5432, which belongs to the system PostgreSQL). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    if (port !== 5432) return port;
  }
}

/**
 * Against TEST_DATABASE_URL when set; otherwise an embedded PostgreSQL started for this run. Either way
 * one template database is migrated once and each test file clones it.
 */
export default async function globalSetup(): Promise<void> {
  let adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'rl-test-pg-'));
    const embedded = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'postgres'), port: await freePort() });
    (globalThis as { __RL_EMBEDDED__?: unknown }).__RL_EMBEDDED__ = embedded;
    adminUrl = embedded.connectionString('postgres');
  }
  const template = uniqueName('rl_template');
  process.env[ADMIN_URL_VAR] = adminUrl;
  process.env[TEMPLATE_VAR] = template;
  if (process.env[FRESH_VAR] === '1') {
    // No template: each file builds its own database; the name only prefixes theirs, for the sweep.
    process.env[CITUS_WORKERS_VAR] = await withAdminClient(adminUrl, registeredCitusWorkers);
    // Server processes the tests start (dist/main.js) inherit it, as a Citus deployment sets it.
    if (process.env[CITUS_WORKERS_VAR] !== '') process.env.DATABASE_CITUS = 'true';
    return;
  }
  await withAdminClient(adminUrl, (client) => client.query(`CREATE DATABASE "${template}"`));
  const pool = new pg.Pool({ connectionString: databaseUrl(adminUrl, template), max: 1 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
}

/** The Citus workers registered in the admin database, as host:port,host:port; empty without Citus. */
async function registeredCitusWorkers(client: pg.Client): Promise<string> {
  const { rows: citus } = await client.query("SELECT 1 FROM pg_extension WHERE extname = 'citus'");
  if (citus.length === 0) return '';
  const { rows } = await client.query<{ node: string }>(
    `SELECT nodename || ':' || nodeport AS node FROM pg_dist_node
      WHERE groupid <> 0 AND noderole = 'primary' AND isactive ORDER BY nodeport, nodename`,
  );
  return rows.map((row) => row.node).join(',');
}
