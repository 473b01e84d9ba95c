import { loadFigures, notMeasuredRow, type Figures, type Scenario } from './scenario.js';
import { POSTINGS_MODULE, type BatchParams } from './postings.js';
import type { BenchContext, LoadSpec } from '../lib/context.js';
import { driveMeasuringWal } from '../lib/wal.js';

/**
 * S4: `postTransactions(input: { atomic: true, transactions })`, 100 transfers between random customers
 * per request, one fresh idempotency key per item; driven like S1 (closed loop) and reported as
 * postings/s = successful requests/s × 100. Target: ≥ 5× pgbench TPC-B s16 tps. Amounts (1..100) are
 * tiny against the seeded balances, so an atomic batch never fails on INSUFFICIENT_FUNDS.
 */
export const S4_POSTINGS_PER_REQUEST = 100;
/**
 * Four clients: an atomic batch is one write_postings statement that locks its balance rows once, in one
 * global order, so concurrent batches queue on shared rows instead of deadlocking (before, with items
 * locking one after another, 2 clients fell from 483 to 117 postings/s on deadlocks). Four keep both cores
 * busy: one batch is planned in Node while another runs in Postgres. BENCH_S4_CONCURRENCY overrides.
 */
export const S4_CONCURRENCY = Number(process.env.BENCH_S4_CONCURRENCY || 4);

export function batchSpec(ctx: BenchContext): LoadSpec {
  const params: BatchParams = {
    accountIds: ctx.fixture.customerIds,
    asset: ctx.fixture.assetCode,
    amountMax: 100,
    ledgerId: ctx.fixture.rootLedgerId,
    size: S4_POSTINGS_PER_REQUEST,
    atomic: true,
  };
  return {
    workload: { module: POSTINGS_MODULE, name: 'batch', params },
    mode: { kind: 'closed', concurrency: S4_CONCURRENCY },
    secret: ctx.fixture.secrets.operator,
  };
}

export const s4: Scenario = {
  id: 'S4',
  title: `postTransactions (atomic), ${S4_POSTINGS_PER_REQUEST} postings per request, ${S4_CONCURRENCY} concurrent clients`,
  phase: 'round',
  unavailable: (features) =>
    features.postTransactions ? null : 'not measured: feature not present (postTransactions belongs to issue 3)',
  async measure(ctx) {
    const { run, walBytesPerRequest } = await driveMeasuringWal(ctx, batchSpec(ctx));
    const figures: Figures = { ...loadFigures(run), walBytesPerRequest };
    figures.postingsPerSecond = figures.throughput! * S4_POSTINGS_PER_REQUEST;
    ctx.log(
      `S4: ${figures.throughput!.toFixed(1)} batches/s = ${figures.postingsPerSecond.toFixed(0)} postings/s, p50 ${figures.p50Ms!.toFixed(1)} ms, p99 ${figures.p99Ms!.toFixed(1)} ms, errors ${figures.errors}` +
        (run.samples.length ? `; e.g. ${run.samples[0]}` : ''),
    );
    return { figures, detail: { outcomes: run.outcomes, samples: run.samples, cpu: run.cpu } };
  },
  targets: (all) =>
    all.S4?.postingsPerSecond === undefined
      ? [
          notMeasuredRow(
            'S4',
            'postings/s',
            '≥ 5× pgbench s16 tps',
            'not measured: feature not present (postTransactions belongs to issue 3)',
          ),
        ]
      : [
          {
            scenario: 'S4',
            figure: `postings/s (atomic batches of ${S4_POSTINGS_PER_REQUEST})`,
            value: all.S4.postingsPerSecond,
            unit: '/s',
            reference: 'pgbench TPC-B s16 tps',
            referenceValue: all.PG16?.tps ?? null,
            ratio: all.PG16?.tps ? all.S4.postingsPerSecond / all.PG16.tps : null,
            target: '≥ 5×',
            met: all.PG16?.tps ? all.S4.postingsPerSecond / all.PG16.tps >= 5 : null,
          },
        ],
  profileJobs: (ctx) => [{ key: 'S4', title: 'S4 postTransactions ×100', spec: batchSpec(ctx) }],
};
