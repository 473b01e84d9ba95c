import { loadConfig } from '../platform/config.js';
import { connectDatabase } from '../platform/db.js';
import { ensureDatabase, startEmbeddedPostgres } from '../platform/embedded-postgres.js';
import { migrate } from '../platform/migrations.js';
import path from 'node:path';

/** `npm run db:migrate`: applies pending migrations to DATABASE_URL, or to the embedded database. */
async function run(): Promise<void> {
  const config = loadConfig();
  let url = config.databaseUrl;
  let embedded = null;
  if (url === undefined) {
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(config.dataDir, 'postgres'),
      port: config.embeddedPostgresPort,
    });
    await ensureDatabase(embedded.connectionString('postgres'), 'reward_ledger');
    url = embedded.connectionString('reward_ledger');
  }
  const db = connectDatabase(url, 2);
  try {
    const report = await migrate(db.pool);
    process.stdout.write(
      `applied: ${report.applied.join(', ') || 'none'}; already applied: ${report.alreadyApplied.length}\n`,
    );
  } finally {
    await db.close();
    if (embedded) await embedded.stop();
  }
}

run().catch((error) => {
  process.stderr.write(`migration failed: ${(error as Error).message}\n`);
  process.exit(1);
});
