import { notMeasuredRow, type Scenario } from './scenario.js';

/**
 * S4: `postTransactions`, 100 postings per request; target postings/s ≥ 5× pgbench s16 tps.
 * The batch API belongs to issue 3 and is not on this branch. When `postTransactions` appears in
 * schema.graphql, `unavailable` stops returning a reason and `measure` fails the run until its
 * workload is written: add a `batch` workload (100 transfers per request, unique keys, as in
 * postings.ts), drive it like S1, and report `postingsPerSecond` = requests/s × 100.
 */
export const S4_POSTINGS_PER_REQUEST = 100;

export const s4: Scenario = {
  id: 'S4',
  title: `postTransactions, ${S4_POSTINGS_PER_REQUEST} postings per request`,
  phase: 'round',
  unavailable: (features) => (features.postTransactions ? null : 'not measured: feature not present (postTransactions belongs to issue 3)'),
  async measure() {
    throw new Error('postTransactions is in the schema now: write the S4 workload in bench/scenarios/s4-batches.ts');
  },
  targets: (all) =>
    all.S4?.postingsPerSecond === undefined
      ? [notMeasuredRow('S4', 'postings/s', '≥ 5× pgbench s16 tps', 'not measured: feature not present (postTransactions belongs to issue 3)')]
      : [
          {
            scenario: 'S4',
            figure: 'postings/s',
            value: all.S4.postingsPerSecond,
            unit: '/s',
            reference: 'pgbench TPC-B s16 tps',
            referenceValue: all.PG16?.tps ?? null,
            ratio: all.PG16?.tps ? all.S4.postingsPerSecond / all.PG16.tps : null,
            target: '≥ 5×',
            met: all.PG16?.tps ? all.S4.postingsPerSecond / all.PG16.tps >= 5 : null,
          },
        ],
};
