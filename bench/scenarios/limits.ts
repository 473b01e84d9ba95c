import { loadFigures, ratioRow, type Scenario } from './scenario.js';
import { transferSpec, S1_CONCURRENCY } from './s1-transfer.js';
import { issueSpec } from './s2-issue.js';
import { gql, type BenchContext, type LoadSpec } from '../lib/context.js';

/**
 * S1 and S2 with program limits on every account (issue 13): an earn cap per day and a balance ceiling on
 * the fixture's root ledger, so every customer of the tree is bound by both. The limits are far above what a
 * run moves, so nothing is refused: what is measured is the cost of enforcing them inside each posting.
 * They exist only while the scenario runs; S1 and S2 run without them in the same round.
 */
const NEVER_BINDING = '1000000000000000000';

async function withLimits<T>(ctx: BenchContext, work: () => Promise<T>): Promise<T> {
  const create = (input: Record<string, unknown>) =>
    gql(ctx.server, ctx.fixture.secrets.admin, 'mutation($i: CreateLimitInput!) { createLimit(input: $i) { id } }', {
      i: { ledgerId: ctx.fixture.rootLedgerId, asset: ctx.fixture.assetCode, amount: NEVER_BINDING, ...input },
    });
  const ids: string[] = [
    (await create({ kind: 'EARN_PER_PERIOD', period: 'DAY', timeZone: 'America/New_York' })).createLimit.id,
    (await create({ kind: 'MAX_BALANCE' })).createLimit.id,
  ];
  try {
    return await work();
  } finally {
    for (const id of ids)
      await gql(ctx.server, ctx.fixture.secrets.admin, 'mutation($id: ID!) { deleteLimit(id: $id) { id } }', { id });
  }
}

function limited(id: string, what: string, spec: (ctx: BenchContext) => LoadSpec): Scenario {
  return {
    id,
    title: `${what} with an earn cap and a balance ceiling on every account, ${S1_CONCURRENCY} concurrent clients`,
    phase: 'round',
    async measure(ctx) {
      const run = await withLimits(ctx, () => ctx.drive(spec(ctx)));
      const figures = loadFigures(run);
      ctx.log(
        `${id}: ${figures.throughput!.toFixed(0)}/s, p50 ${figures.p50Ms!.toFixed(1)} ms, p99 ${figures.p99Ms!.toFixed(1)} ms, errors ${figures.errors}`,
      );
      return { figures, detail: { outcomes: run.outcomes, samples: run.samples, cpu: run.cpu } };
    },
    targets: (all) => {
      const base = id.slice(0, -1);
      return [
        ratioRow({
          scenario: id,
          figure: `${what}/s with limits`,
          value: all[id]?.throughput,
          unit: '/s',
          reference: `${base} ${what}/s without limits`,
          referenceValue: all[base]?.throughput,
          atLeast: 0.9,
        }),
      ];
    },
  };
}

export const s1l = limited('S1L', 'transfers', transferSpec);
export const s2l = limited('S2L', 'issues', issueSpec);
