import type { BenchContext } from '../lib/context.js';
import { withClient } from '../lib/db.js';
import { driveMeasuringWal } from '../lib/wal.js';
import { loadFigures, ratioRow, type Figures, type Scenario, type TargetRow } from '../scenarios/scenario.js';
import { S4_POSTINGS_PER_REQUEST, batchSpec } from '../scenarios/s4-batches.js';
import { transferSpec } from '../scenarios/s1-transfer.js';

/**
 * N1 and N4: S1 and S4 again with the event feed switched off, right after them in every round, so the
 * two sides of each pair see the same machine. The feed is one `ledger_events` row per posting, written by
 * a statement-level trigger on `transactions` in the posting's own transaction (migration
 * 20261203020000_event_feed); disabling that trigger is the cheapest "without" there is, with the same
 * build and the same database. Issue 12 bounds the feed's cost at 10 % of S1 and of S4. Postings made
 * meanwhile have no events: nothing in the bench reads the feed, and the invariants do not cover it.
 */
const FEED_TRIGGERS_ON_TRANSACTIONS = ['ledger_events_transactions_inserted', 'ledger_events_transaction_voided'];
const FEED_COST_CEILING = 0.1;

async function setFeedTriggers(ctx: BenchContext, enabled: boolean): Promise<void> {
  const verb = enabled ? 'ENABLE' : 'DISABLE';
  await withClient(ctx.databaseUrl, (client) =>
    client.query(
      `ALTER TABLE transactions ${FEED_TRIGGERS_ON_TRANSACTIONS.map((name) => `${verb} TRIGGER "${name}"`).join(', ')}`,
    ),
  );
}

function withoutFeed(
  id: string,
  title: string,
  spec: typeof transferSpec,
  postingsPerRequest: number,
  rows: (all: Parameters<Scenario['targets']>[0]) => TargetRow[],
): Scenario {
  return {
    id,
    title,
    phase: 'round',
    unavailable: (features) =>
      postingsPerRequest > 1 && !features.postTransactions ? 'not measured: postTransactions not present' : null,
    async measure(ctx) {
      await setFeedTriggers(ctx, false);
      try {
        const { run, walBytesPerRequest } = await driveMeasuringWal(ctx, spec(ctx));
        const figures: Figures = {
          ...loadFigures(run),
          walBytesPerRequest,
          postingsPerSecond: loadFigures(run).throughput! * postingsPerRequest,
        };
        ctx.log(
          `${id}: ${figures.postingsPerSecond!.toFixed(0)} postings/s without the feed, WAL ${walBytesPerRequest.toFixed(0)} B/request`,
        );
        return { figures, detail: { outcomes: run.outcomes, samples: run.samples, cpu: run.cpu } };
      } finally {
        await setFeedTriggers(ctx, true);
      }
    },
    targets: rows,
  };
}

/** Rows for one pair: throughput with the feed as a share of without, and the CPU and WAL it adds. */
function feedCostRows(withId: string, withoutId: string, all: Parameters<Scenario['targets']>[0]): TargetRow[] {
  const on = all[withId];
  const off = all[withoutId];
  const cpu = (f: Figures | undefined) => (f?.serverCpuUsPerRequest ?? NaN) + (f?.postgresCpuUsPerRequest ?? NaN);
  return [
    ratioRow({
      scenario: withId,
      figure: 'postings/s with the event feed',
      value: on?.postingsPerSecond ?? on?.throughput,
      unit: '/s',
      reference: `${withoutId}: the same without it`,
      referenceValue: off?.postingsPerSecond,
      atLeast: 1 - FEED_COST_CEILING,
    }),
    ratioRow({
      scenario: withId,
      figure: 'CPU per request with the event feed (server + Postgres)',
      value: cpu(on),
      unit: 'µs',
      reference: `${withoutId}: the same without it`,
      referenceValue: cpu(off),
      atMost: 1 + FEED_COST_CEILING,
    }),
    ratioRow({
      scenario: withId,
      figure: 'WAL per request with the event feed',
      value: on?.walBytesPerRequest,
      unit: 'B',
      reference: `${withoutId}: the same without it`,
      referenceValue: off?.walBytesPerRequest,
      note: 'cluster-wide WAL over the whole run, warm-up included; informational',
    }),
  ];
}

export const n1 = withoutFeed(
  'N1',
  'probe: S1 with the event feed trigger disabled (the feed cost, issue 12)',
  transferSpec,
  1,
  (all) => feedCostRows('S1', 'N1', all),
);
export const n4 = withoutFeed(
  'N4',
  `probe: S4 with the event feed trigger disabled (${S4_POSTINGS_PER_REQUEST} postings per request)`,
  batchSpec,
  S4_POSTINGS_PER_REQUEST,
  (all) => feedCostRows('S4', 'N4', all),
);
