import pg from 'pg';
import { loadConfig } from '../platform/config.js';
import { distributeSchema } from '../platform/distribution.repository.js';

/** Shards per table on the first run; Citus's own default. Later runs leave existing tables as they are. */
const SHARD_COUNT_DEFAULT = 32;
const SHARD_COUNT_MAX = 1024;

/**
 * `npm run db:distribute`: hands the migrated schema in DATABASE_URL (the Citus coordinator) to Citus
 * (docs/citus.md). Idempotent: run it after `db:migrate`, on first deployment and after every upgrade.
 */
async function run(): Promise<void> {
  const config = loadConfig();
  if (config.databaseUrl === undefined) {
    throw new Error('DATABASE_URL must name the Citus coordinator (the embedded database has no Citus)');
  }
  const raw = process.env.CITUS_SHARD_COUNT;
  const shardCount = raw === undefined || raw === '' ? SHARD_COUNT_DEFAULT : Number(raw);
  if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > SHARD_COUNT_MAX) {
    throw new Error(`CITUS_SHARD_COUNT must be an integer from 1 to ${SHARD_COUNT_MAX}; got ${JSON.stringify(raw)}`);
  }
  const client = new pg.Client({ connectionString: config.databaseUrl });
  await client.connect();
  try {
    const report = await distributeSchema(client, {
      shardCount,
      log: (line) => process.stdout.write(`${line}\n`),
    });
    process.stdout.write(
      `${report.citusVersion}: ${report.steps.length === 0 ? 'already distributed, nothing changed' : `${report.steps.length} changes`}\n`,
    );
  } finally {
    await client.end();
  }
}

run().catch((error) => {
  process.stderr.write(`distribution failed: ${(error as Error).message}\n`);
  process.exit(1);
});
