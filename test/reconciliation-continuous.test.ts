import { setTimeout as sleep } from 'node:timers/promises';
import { key } from './support/builders';
import { createPartner, earn, importRecords, partnerRecord, runReconciliation } from './support/reconciliation-runs';
import { recordsOf } from './support/reconciliation';
import { startTestServer, type TestServer } from './support/server';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ reconciliationPollIntervalMs: 100 });
});
afterAll(async () => {
  await t.stop();
});

/** Waits, reading through the API, until the record is matched; jest's timeout is the only bound. */
async function matched(sourceId: string, externalId: string): Promise<void> {
  while ((await recordsOf(t, sourceId)).get(externalId)?.status !== 'MATCHED') await sleep(25);
}

async function matchOf(recordExternalId: string, sourceId: string) {
  const { rows } = await t.db.pool.query(
    `SELECT m.transaction_id, m.matched_by, m.run_id FROM reconciliation_matches m
       JOIN reconciliation_records r ON r.root_ledger_id = m.root_ledger_id AND r.id = m.record_id
      WHERE m.source_id = $1 AND r.external_id = $2`,
    [sourceId, recordExternalId],
  );
  return rows;
}

describe('continuous sources', () => {
  it('match a record that arrives before its posting, once the posting commits', async () => {
    const partner = await createPartner(t, { continuous: true });
    const reference = key('order');
    await importRecords(t, partner.sourceId, [partnerRecord('early', reference, '60', partner.alice.code)]);
    // The record has been looked at with nothing to match before the posting exists.
    while (
      (await t.db.pool.query('SELECT 1 FROM reconciliation_pending_records WHERE source_id = $1', [partner.sourceId]))
        .rowCount! > 0
    )
      await sleep(25);
    expect((await recordsOf(t, partner.sourceId)).get('early')!.status).toBe('UNMATCHED');
    const transactionId = await earn(t, partner.alice.id, '60', reference);
    await matched(partner.sourceId, 'early');
    expect(await matchOf('early', partner.sourceId)).toEqual([
      { transaction_id: transactionId, matched_by: 'CONTINUOUS', run_id: null },
    ]);
  });

  it('match a record that arrives after its posting, without a run', async () => {
    const partner = await createPartner(t, { continuous: true });
    const reference = key('order');
    const transactionId = await earn(t, partner.alice.id, '80', reference);
    await importRecords(t, partner.sourceId, [partnerRecord('late', reference, '80', partner.alice.code)]);
    await matched(partner.sourceId, 'late');
    expect(await matchOf('late', partner.sourceId)).toEqual([
      { transaction_id: transactionId, matched_by: 'CONTINUOUS', run_id: null },
    ]);
  });

  it('share the work between matchers running at once, each match made once', async () => {
    // A server of its own whose matcher only runs when told: five passes at once are five instances.
    const u = await startTestServer();
    try {
      const partner = await createPartner(u, { continuous: true });
      const records = [];
      for (let index = 0; index < 20; index += 1) {
        const reference = key('order');
        await earn(u, partner.bob.id, String(5 + index), reference);
        records.push(partnerRecord(`r-${index}`, reference, String(5 + index), partner.bob.code));
      }
      await importRecords(u, partner.sourceId, records);
      const made = await Promise.all(Array.from({ length: 5 }, () => u.server.reconciliation.pass()));
      expect(made.reduce((sum, count) => sum + count, 0)).toBe(20);
      const { rows } = await u.db.pool.query(
        'SELECT count(*)::int AS n FROM reconciliation_matches WHERE source_id = $1',
        [partner.sourceId],
      );
      expect(rows[0].n).toBe(20);
      expect(await u.server.reconciliation.pass()).toBe(0);
    } finally {
      await u.stop();
    }
  });

  it('leave the period’s exceptions to a run, which reports the live matches as matched', async () => {
    const partner = await createPartner(t, { continuous: true });
    const reference = key('order');
    await earn(t, partner.alice.id, '15', reference);
    await earn(t, partner.bob.id, '9', key('order'));
    await importRecords(t, partner.sourceId, [
      partnerRecord('live', reference, '15', partner.alice.code),
      partnerRecord('stray', key('order'), '3', partner.alice.code),
    ]);
    await matched(partner.sourceId, 'live');
    const run = await runReconciliation(t, partner.sourceId, 'COMMIT');
    expect(run.summary).toMatchObject({ externalRecords: 2, matched: 1, missingInLedger: 1, missingExternally: 1 });
  });
});
