import { loadFigures, limitRow, type Scenario } from './scenario.js';
import { POSTINGS_MODULE, type PostingParams } from './postings.js';
import { S1_CONCURRENCY } from './s1-transfer.js';
import type { BenchContext, LoadSpec } from '../lib/context.js';

export const S3_FAIL_SHARE = 0.1;

export function redeemSpec(ctx: BenchContext): LoadSpec {
  const params: PostingParams = {
    accountIds: ctx.fixture.customerIds,
    asset: ctx.fixture.assetCode,
    amountMax: 10,
    failShare: S3_FAIL_SHARE,
  };
  return {
    workload: { module: POSTINGS_MODULE, name: 'redeem', params },
    mode: { kind: 'closed', concurrency: S1_CONCURRENCY },
    secret: ctx.fixture.secrets.operator,
  };
}

/**
 * A redeem mix in which 10% ask for more than the balance. "Failures cost no more than successes" is
 * read as: under the same mixed load, a refused redemption's median (and mean) latency is no higher
 * than a successful one's.
 */
export const s3: Scenario = {
  id: 'S3',
  title: `redeem mix, ${S3_FAIL_SHARE * 100}% INSUFFICIENT_FUNDS, ${S1_CONCURRENCY} concurrent clients`,
  phase: 'round',
  async measure(ctx) {
    const run = await ctx.drive(redeemSpec(ctx));
    const ok = run.outcomes.OK?.latency;
    const refused = run.outcomes.INSUFFICIENT_FUNDS?.latency;
    const figures = {
      ...loadFigures(run),
      requestsPerSecond: run.throughputPerSecond,
      failShare: (refused?.count ?? 0) / Math.max(run.completed, 1),
      okP50Ms: ok?.p50Ms ?? NaN,
      okMeanMs: ok?.meanMs ?? NaN,
      failP50Ms: refused?.p50Ms ?? NaN,
      failMeanMs: refused?.meanMs ?? NaN,
      failOverOkP50: (refused?.p50Ms ?? NaN) / (ok?.p50Ms ?? NaN),
      failOverOkMean: (refused?.meanMs ?? NaN) / (ok?.meanMs ?? NaN),
      otherErrors: run.completed - (ok?.count ?? 0) - (refused?.count ?? 0),
    };
    ctx.log(
      `S3: ${figures.requestsPerSecond.toFixed(0)} redeems/s, ok p50 ${figures.okP50Ms.toFixed(1)} ms, refused p50 ${figures.failP50Ms.toFixed(1)} ms, refused ${(figures.failShare * 100).toFixed(1)}%`,
    );
    return { figures, detail: { outcomes: run.outcomes, samples: run.samples, cpu: run.cpu } };
  },
  targets: (all) => [
    limitRow({
      scenario: 'S3',
      figure: 'refused ÷ successful redemption, median latency',
      value: all.S3?.failOverOkP50,
      unit: '×',
      atMost: 1.0,
      note: `refused p50 ${all.S3?.failP50Ms?.toFixed(2)} ms vs successful p50 ${all.S3?.okP50Ms?.toFixed(2)} ms; means ${all.S3?.failMeanMs?.toFixed(2)} vs ${all.S3?.okMeanMs?.toFixed(2)} ms; ${all.S3?.requestsPerSecond?.toFixed(0)} requests/s`,
    }),
  ],
  profileJobs: (ctx) => [{ key: 'S3', title: 'S3 redeem mix', spec: redeemSpec(ctx) }],
};
