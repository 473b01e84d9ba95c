import { loadFigures, ratioRow, type Scenario } from './scenario.js';
import { POSTINGS_MODULE, type PostingParams } from './postings.js';
import { S1_CONCURRENCY } from './s1-transfer.js';
import type { BenchContext, LoadSpec } from '../lib/context.js';

export function issueSpec(ctx: BenchContext): LoadSpec {
  const params: PostingParams = { accountIds: ctx.fixture.customerIds, asset: ctx.fixture.assetCode, amountMax: 100 };
  return {
    workload: { module: POSTINGS_MODULE, name: 'issue', params },
    mode: { kind: 'closed', concurrency: S1_CONCURRENCY },
    secret: ctx.fixture.secrets.operator,
  };
}

/** Every posting debits the one system:issuance account: the hot-account case. */
export const s2: Scenario = {
  id: 'S2',
  title: `issue from system:issuance to random customers (hot account), ${S1_CONCURRENCY} concurrent clients`,
  phase: 'round',
  async measure(ctx) {
    const run = await ctx.drive(issueSpec(ctx));
    const figures = loadFigures(run);
    ctx.log(
      `S2: ${figures.throughput!.toFixed(0)} issues/s, p50 ${figures.p50Ms!.toFixed(1)} ms, p99 ${figures.p99Ms!.toFixed(1)} ms, errors ${figures.errors}`,
    );
    return { figures, detail: { outcomes: run.outcomes, samples: run.samples, cpu: run.cpu } };
  },
  targets: (all) => [
    ratioRow({
      scenario: 'S2',
      figure: 'issues/s',
      value: all.S2?.throughput,
      unit: '/s',
      reference: 'pgbench TPC-B s1 tps',
      referenceValue: all.PG1?.tps,
      atLeast: 1.0,
    }),
    ratioRow({
      scenario: 'S2',
      figure: 'issues/s',
      value: all.S2?.throughput,
      unit: '/s',
      reference: 'S1 transfers/s',
      referenceValue: all.S1?.throughput,
      atLeast: 0.8,
    }),
  ],
  profileJobs: (ctx) => [{ key: 'S2', title: 'S2 issue (hot account)', spec: issueSpec(ctx) }],
};
