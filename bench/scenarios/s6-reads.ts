import type { WorkloadFactory } from '../lib/driver-protocol.js';
import type { BenchContext, LoadSpec } from '../lib/context.js';
import { limitRow, loadFigures, ratioRow, type Scenario } from './scenario.js';

/**
 * Reads: one account's balances by id (S6a), and a page of accounts with balances and their last five
 * entries (S6b). The rate target applies to S6a; the statement bound (≤ 4 SQL statements per request,
 * whatever the page size) to both, counted with pg_stat_statements in the profile pass.
 */
const BALANCES = JSON.stringify(
  'query AccountBalances($id: ID!) { account(id: $id) { id code balances { asset { code } posted available version } } }',
);
const PAGE = JSON.stringify(
  'query AccountPage($ledgerId: ID!, $first: Int!, $after: String) { accounts(ledgerId: $ledgerId, first: $first, after: $after) {' +
    ' edges { node { id code balances { asset { code } posted available } entries(first: 5) { edges { node { id direction amount } } } } }' +
    ' pageInfo { hasNextPage endCursor } } }',
);

const HISTORY = JSON.stringify(
  'query History($id: ID!, $after: String) { account(id: $id) { entries(first: 50, after: $after) { edges { node { id direction amount } } pageInfo { hasNextPage endCursor } } } }',
);

export const S6_CONCURRENCY = 32;
export const S6_PAGE_SIZES = [10, 100] as const;

export function cursorOf(id: string): string {
  return Buffer.from(`id:${id}`).toString('base64url');
}

export const workloads: Record<string, WorkloadFactory> = {
  balances: (params: { accountIds: string[] }, random) => () =>
    `{"query":${BALANCES},"variables":{"id":"${params.accountIds[Math.floor(random() * params.accountIds.length)]}"}}`,
  /** One account's history page: the newest 50 entries, or 50 after a given cursor (S8). */
  history: (params: { accountId: string; after: string | null }) => () =>
    `{"query":${HISTORY},"variables":{"id":"${params.accountId}","after":${params.after === null ? 'null' : `"${params.after}"`}}}`,
  page: (params: { ledgerId: string; accountIds: string[]; first: number }, random) => {
    // Pages start after a random account, so successive requests read different rows.
    const starts = params.accountIds.slice(0, Math.max(1, params.accountIds.length - params.first));
    return () =>
      `{"query":${PAGE},"variables":{"ledgerId":"${params.ledgerId}","first":${params.first},"after":"${cursorOf(starts[Math.floor(random() * starts.length)]!)}"}}`;
  },
};

export function balancesSpec(ctx: BenchContext): LoadSpec {
  return {
    workload: { module: __filename, name: 'balances', params: { accountIds: ctx.fixture.customerIds } },
    mode: { kind: 'closed', concurrency: S6_CONCURRENCY },
    secret: ctx.fixture.secrets.reader,
  };
}

export function historySpec(ctx: BenchContext, accountId: string, afterEntryId: string | null): LoadSpec {
  return {
    workload: {
      module: __filename,
      name: 'history',
      params: { accountId, after: afterEntryId === null ? null : cursorOf(afterEntryId) },
    },
    mode: { kind: 'closed', concurrency: S6_CONCURRENCY },
    secret: ctx.fixture.secrets.reader,
  };
}

export function pageSpec(ctx: BenchContext, first: number): LoadSpec {
  return {
    workload: {
      module: __filename,
      name: 'page',
      params: { ledgerId: ctx.fixture.rootLedgerId, accountIds: ctx.fixture.customerIds, first },
    },
    mode: { kind: 'closed', concurrency: S6_CONCURRENCY },
    secret: ctx.fixture.secrets.reader,
  };
}

export const s6a: Scenario = {
  id: 'S6a',
  title: `account { balances } by id, ${S6_CONCURRENCY} concurrent clients`,
  phase: 'round',
  async measure(ctx) {
    const run = await ctx.drive(balancesSpec(ctx));
    const figures = loadFigures(run);
    ctx.log(
      `S6a: ${figures.throughput!.toFixed(0)} reads/s, p50 ${figures.p50Ms!.toFixed(2)} ms, p99 ${figures.p99Ms!.toFixed(2)} ms, errors ${figures.errors}`,
    );
    return { figures, detail: { outcomes: run.outcomes, samples: run.samples, cpu: run.cpu } };
  },
  targets: (all, statements) => [
    limitRow({
      scenario: 'S6a',
      figure: 'account balances by id, requests/s',
      value: all.S6a?.throughput,
      unit: '/s',
      atLeast: 5000,
    }),
    // What a cheap read costs beyond the floor of any request (HTTP + GraphQL, F0), on any machine.
    ratioRow({
      scenario: 'S6a',
      figure: 'account balances by id ÷ { __typename }',
      value: all.S6a?.throughput,
      unit: '/s',
      reference: 'F0 { __typename } requests/s',
      referenceValue: all.F0?.throughput,
      atLeast: 0.6,
    }),
    limitRow({
      scenario: 'S6a',
      figure: 'SQL statements per request',
      value: statements.S6a,
      unit: 'statements',
      atMost: 4,
    }),
  ],
  profileJobs: (ctx) => [{ key: 'S6a', title: 'S6a account balances by id', spec: balancesSpec(ctx) }],
};

export const s6b: Scenario = {
  id: 'S6b',
  title: `a page of 100 accounts with balances and last 5 entries, ${S6_CONCURRENCY} concurrent clients`,
  phase: 'round',
  async measure(ctx) {
    const run = await ctx.drive(pageSpec(ctx, 100));
    const figures = loadFigures(run);
    ctx.log(
      `S6b: ${figures.throughput!.toFixed(0)} pages/s, p50 ${figures.p50Ms!.toFixed(2)} ms, p99 ${figures.p99Ms!.toFixed(2)} ms, errors ${figures.errors}`,
    );
    return { figures, detail: { outcomes: run.outcomes, samples: run.samples, cpu: run.cpu } };
  },
  targets: (all, statements) => [
    limitRow({
      scenario: 'S6b',
      figure: 'pages of 100 accounts (balances + 5 entries), requests/s',
      value: all.S6b?.throughput,
      unit: '/s',
      note: 'no rate target of its own; the 5,000 rps target is read as applying to S6a',
    }),
    ...S6_PAGE_SIZES.map((size) =>
      limitRow({
        scenario: 'S6b',
        figure: `SQL statements per request, page of ${size}`,
        value: statements[`S6b-${size}`],
        unit: 'statements',
        atMost: 4,
      }),
    ),
  ],
  profileJobs: (ctx) =>
    S6_PAGE_SIZES.map((size) => ({
      key: `S6b-${size}`,
      title: `S6b page of ${size} accounts`,
      spec: pageSpec(ctx, size),
    })),
};
