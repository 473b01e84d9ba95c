import { loadFigures, ratioRow, type Figures, type Scenario } from './scenario.js';
import { POSTINGS_MODULE, type PostingParams } from './postings.js';
import type { BenchContext, LoadSpec } from '../lib/context.js';
import { driveMeasuringWal } from '../lib/wal.js';

export const S1_CONCURRENCY = 32;

export function transferSpec(ctx: BenchContext): LoadSpec {
  const params: PostingParams = { accountIds: ctx.fixture.customerIds, asset: ctx.fixture.assetCode, amountMax: 100 };
  return {
    workload: { module: POSTINGS_MODULE, name: 'transfer', params },
    mode: { kind: 'closed', concurrency: S1_CONCURRENCY },
    secret: ctx.fixture.secrets.operator,
  };
}

export const s1: Scenario = {
  id: 'S1',
  title: `transfer between random customers, ${S1_CONCURRENCY} concurrent clients`,
  phase: 'round',
  async measure(ctx) {
    const { run, walBytesPerRequest } = await driveMeasuringWal(ctx, transferSpec(ctx));
    const figures: Figures = { ...loadFigures(run), walBytesPerRequest };
    ctx.log(
      `S1: ${figures.throughput!.toFixed(0)} transfers/s, p50 ${figures.p50Ms!.toFixed(1)} ms, p99 ${figures.p99Ms!.toFixed(1)} ms, errors ${figures.errors}`,
    );
    return { figures, detail: { outcomes: run.outcomes, samples: run.samples, cpu: run.cpu } };
  },
  targets: (all) => [
    ratioRow({
      scenario: 'S1',
      figure: 'transfers/s',
      value: all.S1?.throughput,
      unit: '/s',
      reference: 'pgbench TPC-B s16 tps',
      referenceValue: all.PG16?.tps,
      atLeast: 1.0,
    }),
    // The system's work per operation: the API server and Postgres for a transfer, Postgres alone for
    // TPC-B (pgbench is the load driver there, as the bench's driver is here; its CPU is in the note).
    ratioRow({
      scenario: 'S1',
      figure: 'CPU per transfer (server + Postgres)',
      value: (all.S1?.serverCpuUsPerRequest ?? NaN) + (all.S1?.postgresCpuUsPerRequest ?? NaN),
      unit: 'µs',
      reference: 'Postgres CPU per pgbench TPC-B s16 transaction',
      referenceValue: all.PG16?.postgresCpuUsPerTransaction,
      atMost: 1.5,
      note: `server ${(all.S1?.serverCpuUsPerRequest ?? NaN).toFixed(0)} µs + Postgres ${(all.S1?.postgresCpuUsPerRequest ?? NaN).toFixed(0)} µs; pgbench's own CPU ${(((all.PG16?.pgbenchCores ?? NaN) * 1e6) / (all.PG16?.tps ?? NaN)).toFixed(0)} µs per transaction`,
    }),
  ],
  profileJobs: (ctx) => [{ key: 'S1', title: 'S1 transfer', spec: transferSpec(ctx) }],
};
