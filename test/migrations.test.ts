import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { migrate, MIGRATIONS_DIR, readMigrations } from '../src/platform/migrations';
import { ADMIN_URL_VAR, databaseUrl, uniqueName, withAdminClient } from './support/databases';

let adminUrl: string;
let name: string;
let pool: pg.Pool;

beforeAll(async () => {
  adminUrl = process.env[ADMIN_URL_VAR]!;
  name = uniqueName('rl_migrations');
  await withAdminClient(adminUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
  pool = new pg.Pool({ connectionString: databaseUrl(adminUrl, name), max: 4 });
  // The database is dropped WITH (FORCE) at the end: a connection still closing then is terminated by the
  // server (57P01), which the pool reports as an 'error' event; without a listener that fails the file.
  pool.on('error', () => undefined);
});
afterAll(async () => {
  await pool.end();
  await withAdminClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
});

it('applies every migration to an empty database and records it as Prisma does', async () => {
  const report = await migrate(pool);
  const migrations = await readMigrations();
  expect(report.applied).toEqual(migrations.map((migration) => migration.name));

  const { rows } = await pool.query('SELECT * FROM "_prisma_migrations" ORDER BY migration_name');
  expect(rows).toHaveLength(migrations.length);
  for (const [index, row] of rows.entries()) {
    const sql = await readFile(path.join(MIGRATIONS_DIR, row.migration_name, 'migration.sql'));
    expect(row.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
    expect(row.migration_name).toBe(migrations[index]!.name);
    expect(row.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(row.applied_steps_count).toBe(1);
    expect(row.logs).toBeNull();
    expect(row.rolled_back_at).toBeNull();
    expect(row.finished_at.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
  }
  const columns = await pool.query(
    `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
  );
  expect(columns.rows.map((column) => `${column.column_name}:${column.data_type}:${column.is_nullable}`)).toEqual([
    'id:character varying:NO',
    'checksum:character varying:NO',
    'finished_at:timestamp with time zone:YES',
    'migration_name:character varying:NO',
    'logs:text:YES',
    'rolled_back_at:timestamp with time zone:YES',
    'started_at:timestamp with time zone:NO',
    'applied_steps_count:integer:NO',
  ]);
});

it('treats a re-run as a no-op, even when several run at once', async () => {
  const before = await pool.query('SELECT id, finished_at FROM "_prisma_migrations" ORDER BY id');
  const reports = await Promise.all([migrate(pool), migrate(pool), migrate(pool)]);
  for (const report of reports) expect(report.applied).toEqual([]);
  expect((await pool.query('SELECT id, finished_at FROM "_prisma_migrations" ORDER BY id')).rows).toEqual(before.rows);
});

it('refuses to run when an applied migration was edited afterwards', async () => {
  await pool.query(
    `UPDATE "_prisma_migrations" SET checksum = repeat('0', 64) WHERE migration_name = (SELECT min(migration_name) FROM "_prisma_migrations")`,
  );
  await expect(migrate(pool)).rejects.toThrow(/modified after it was applied/);
});
