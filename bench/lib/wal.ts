import type { BenchContext, LoadRun, LoadSpec } from './context.js';
import { withClient } from './db.js';

/**
 * One load run and the WAL the cluster wrote meanwhile, per request answered (warm-up and tail included,
 * as the WAL counter covers the whole run). WAL is cluster-wide, so anything else writing to the same
 * Postgres shows up in it; read the figure as an upper bound on a quiet machine, or as a difference
 * between two runs measured alike.
 */
export async function driveMeasuringWal(
  ctx: BenchContext,
  spec: LoadSpec,
): Promise<{ run: LoadRun; walBytesPerRequest: number }> {
  const lsn = () =>
    withClient(ctx.databaseUrl, async (client) => {
      const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      return rows[0]!.lsn;
    });
  const before = await lsn();
  const run = await ctx.drive(spec);
  const after = await lsn();
  const bytes = await withClient(ctx.databaseUrl, async (client) => {
    const { rows } = await client.query<{ bytes: string }>('SELECT pg_wal_lsn_diff($1, $2)::text AS bytes', [
      after,
      before,
    ]);
    return Number(rows[0]!.bytes);
  });
  return { run, walBytesPerRequest: run.answered > 0 ? bytes / run.answered : NaN };
}
