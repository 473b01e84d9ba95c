import { loadFigures, notMeasuredRow, type Figures, type Scenario } from './scenario.js';
import { POSTINGS_MODULE, type BatchParams } from './postings.js';
import type { BenchContext, LoadSpec } from '../lib/context.js';

/**
 * S4: `postTransactions(input: { atomic: true, transactions })`, 100 transfers between random customers
 * per request, one fresh idempotency key per item; driven like S1 (closed loop) and reported as
 * postings/s = successful requests/s × 100. Target: ≥ 5× pgbench TPC-B s16 tps. Amounts (1..100) are
 * tiny against the seeded balances, so an atomic batch never fails on INSUFFICIENT_FUNDS.
 */
export const S4_POSTINGS_PER_REQUEST = 100;
/**
 * One client: concurrent atomic batches deadlock on this build (each item locks its two balance rows
 * in its own sorted order, but the items of a batch lock one after another, so two batches of 100
 * random transfers almost always share rows in opposite orders; Postgres breaks the cycle after
 * deadlock_timeout and the engine retries). Measured on 2 cores: 1 client 483 postings/s (p50 207 ms),
 * 2 clients 117/s (p50 1.3 s), 4 clients 100/s (p50 3 s). BENCH_S4_CONCURRENCY overrides.
 */
export const S4_CONCURRENCY = Number(process.env.BENCH_S4_CONCURRENCY || 1);

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
  unavailable: (features) => (features.postTransactions ? null : 'not measured: feature not present (postTransactions belongs to issue 3)'),
  async measure(ctx) {
    const run = await ctx.drive(batchSpec(ctx));
    const figures: Figures = { ...loadFigures(run) };
    figures.postingsPerSecond = figures.throughput! * S4_POSTINGS_PER_REQUEST;
    ctx.log(
      `S4: ${figures.throughput!.toFixed(1)} batches/s = ${figures.postingsPerSecond.toFixed(0)} postings/s, p50 ${figures.p50Ms!.toFixed(1)} ms, p99 ${figures.p99Ms!.toFixed(1)} ms, errors ${figures.errors}` +
        (run.samples.length ? `; e.g. ${run.samples[0]}` : ''),
    );
    return { figures, detail: { outcomes: run.outcomes, samples: run.samples, cpu: run.cpu } };
  },
  targets: (all) =>
    all.S4?.postingsPerSecond === undefined
      ? [notMeasuredRow('S4', 'postings/s', '≥ 5× pgbench s16 tps', 'not measured: feature not present (postTransactions belongs to issue 3)')]
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
