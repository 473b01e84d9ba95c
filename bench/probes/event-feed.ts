import type { BenchContext, LoadSpec } from '../lib/context.js';
import { withClient } from '../lib/db.js';
import { driveMeasuringWal } from '../lib/wal.js';
import { loadFigures, ratioRow, type Figures, type Scenario, type TargetRow } from '../scenarios/scenario.js';
import { S4_POSTINGS_PER_REQUEST, batchSpec } from '../scenarios/s4-batches.js';
import { transferSpec } from '../scenarios/s1-transfer.js';

/**
 * N1 and N4: what writing the event feed costs a posting, as S1's and S4's load driven twice back to back,
 * with the feed and without it. The feed is one `ledger_events` row per posting, written by a
 * statement-level trigger on `transactions` in the posting's own transaction (migration
 * 20261203020000_event_feed); disabling that trigger is the cheapest "without" there is, with the same
 * build and the same database. The two sides swap order every round, so whatever follows the round's
 * pgbench reference (its checkpoint, its autovacuum) falls on each side alike. Issue 12 bounds the cost at
 * 10 %. Postings made without the feed have no events: nothing in the bench reads the feed, and the
 * invariants do not cover it.
 */
const FEED_TRIGGERS_ON_TRANSACTIONS = ['ledger_events_transactions_inserted', 'ledger_events_transaction_voided'];
const FEED_COST_CEILING = 0.1;

/** Switches the feed's triggers on `transactions` (N1, N4, P2N); always switched back on afterwards. */
export async function setFeedTriggers(ctx: BenchContext, enabled: boolean): Promise<void> {
  const verb = enabled ? 'ENABLE' : 'DISABLE';
  await withClient(ctx.databaseUrl, (client) =>
    client.query(
      `ALTER TABLE transactions ${FEED_TRIGGERS_ON_TRANSACTIONS.map((name) => `${verb} TRIGGER "${name}"`).join(', ')}`,
    ),
  );
}

/** One side's figures, prefixed `on` (with the feed) or `off`. */
async function measureSide(
  ctx: BenchContext,
  spec: LoadSpec,
  postingsPerRequest: number,
  feed: boolean,
): Promise<Figures> {
  if (!feed) await setFeedTriggers(ctx, false);
  try {
    const { run, walBytesPerRequest } = await driveMeasuringWal(ctx, spec);
    const load = loadFigures(run);
    const side = feed ? 'on' : 'off';
    return {
      [`${side}PostingsPerSecond`]: load.throughput! * postingsPerRequest,
      [`${side}CpuUsPerRequest`]: load.serverCpuUsPerRequest! + load.postgresCpuUsPerRequest!,
      [`${side}WalBytesPerRequest`]: walBytesPerRequest,
      [`${side}Errors`]: load.errors!,
    };
  } finally {
    if (!feed) await setFeedTriggers(ctx, true);
  }
}

function feedCost(id: string, title: string, spec: (ctx: BenchContext) => LoadSpec, postingsPerRequest: number) {
  let round = 0;
  const scenario: Scenario = {
    id,
    title,
    phase: 'round',
    unavailable: (features) =>
      postingsPerRequest > 1 && !features.postTransactions ? 'not measured: postTransactions not present' : null,
    async measure(ctx) {
      const order = round++ % 2 === 0 ? [true, false] : [false, true];
      let figures: Figures = {};
      for (const feed of order)
        figures = { ...figures, ...(await measureSide(ctx, spec(ctx), postingsPerRequest, feed)) };
      ctx.log(
        `${id}: ${figures.onPostingsPerSecond!.toFixed(0)} postings/s with the feed, ${figures.offPostingsPerSecond!.toFixed(0)} without; CPU ${figures.onCpuUsPerRequest!.toFixed(0)} / ${figures.offCpuUsPerRequest!.toFixed(0)} µs per request; WAL ${figures.onWalBytesPerRequest!.toFixed(0)} / ${figures.offWalBytesPerRequest!.toFixed(0)} B per request`,
      );
      return { figures };
    },
    targets: (all) => feedCostRows(id, all[id]),
  };
  return scenario;
}

/** With the feed as a share of without: throughput (a floor), CPU (a ceiling), WAL (for information). */
function feedCostRows(id: string, figures: Figures | undefined): TargetRow[] {
  const pair = (
    figure: string,
    unit: string,
    key: string,
    bound: { atLeast?: number; atMost?: number },
    note?: string,
  ) =>
    ratioRow({
      scenario: id,
      figure: `${figure} with the event feed`,
      value: figures?.[`on${key}`],
      unit,
      reference: 'the same without it',
      referenceValue: figures?.[`off${key}`],
      ...bound,
      note,
    });
  return [
    pair('postings/s', '/s', 'PostingsPerSecond', { atLeast: 1 - FEED_COST_CEILING }),
    pair('CPU per request (server + Postgres)', 'µs', 'CpuUsPerRequest', { atMost: 1 + FEED_COST_CEILING }),
    pair('WAL per request', 'B', 'WalBytesPerRequest', {}, 'cluster-wide WAL over the whole run, warm-up included'),
  ];
}

export const n1 = feedCost(
  'N1',
  "probe: S1's transfers with the event feed and without it (its trigger disabled), back to back",
  transferSpec,
  1,
);
export const n4 = feedCost(
  'N4',
  `probe: S4's atomic batches (${S4_POSTINGS_PER_REQUEST} postings each) with the event feed and without it, back to back`,
  batchSpec,
  S4_POSTINGS_PER_REQUEST,
);
