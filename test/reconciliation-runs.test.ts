import { visibleIn } from '../src/reconciliation/matcher.core';
import { key } from './support/builders';
import {
  aroundNow,
  createPartner,
  earn,
  exceptionsOf,
  importRecords,
  partnerRecord,
  RESOLVE,
  RUN,
  runReconciliation,
  type Partner,
} from './support/reconciliation-runs';
import { recordsOf } from './support/reconciliation';
import { errorCode, ok, startTestServer, type TestServer } from './support/server';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

async function matchesOf(sourceId: string): Promise<number> {
  const { rows } = await t.db.pool.query('SELECT count(*)::int AS n FROM reconciliation_matches WHERE source_id = $1', [
    sourceId,
  ]);
  return rows[0].n;
}

/**
 * The story of API.md: a partner reports four sales; the ledger has three. One agrees, one disagrees on the
 * amount, one the ledger never saw, one is the partner's double count; one posting the partner never reported.
 */
async function story(): Promise<Partner & { refs: Record<string, string>; tx: Record<string, string> }> {
  const partner = await createPartner(t);
  const refs = { agreed: key('order'), short: key('order'), unreported: key('order'), unknown: key('order') };
  const tx = {
    agreed: await earn(t, partner.alice.id, '100', refs.agreed),
    short: await earn(t, partner.alice.id, '200', refs.short),
    unreported: await earn(t, partner.bob.id, '75', refs.unreported),
  };
  await importRecords(t, partner.sourceId, [
    partnerRecord('sale-1', refs.agreed, '100', partner.alice.code),
    partnerRecord('sale-2', refs.short, '250', partner.alice.code),
    partnerRecord('sale-3', refs.unknown, '40', partner.bob.code),
    partnerRecord('sale-1-again', refs.agreed, '100', partner.alice.code),
  ]);
  return { ...partner, refs, tx };
}

const STORY_SUMMARY = {
  externalRecords: 4,
  ledgerTransactions: 3,
  matched: 1,
  missingInLedger: 1,
  missingExternally: 1,
  amountMismatch: 1,
  duplicates: 1,
  ambiguous: 0,
};

describe('runReconciliation', () => {
  it('reports both sides: matches, a mismatch, a duplicate, and what each side is missing', async () => {
    const partner = await story();
    const run = await runReconciliation(t, partner.sourceId, 'DRY_RUN');
    expect(run).toMatchObject({ mode: 'DRY_RUN', status: 'COMPLETED', error: null, summary: STORY_SUMMARY });
    expect(run.source.id).toBe(partner.sourceId);
    expect(run.ruleIds).toHaveLength(1);
    expect(run.journalHighWater).toMatch(/^\d+:\d+:[\d,]*$/);

    const exceptions = await exceptionsOf(t, run.id);
    const byKind = (kind: string) => exceptions.filter((exception) => exception.kind === kind);
    expect(exceptions).toHaveLength(4);
    expect(byKind('AMOUNT_MISMATCH')[0]).toMatchObject({
      status: 'OPEN',
      expectedAmount: '250',
      ledgerAmount: '200',
      difference: '50',
      externalRecord: { externalId: 'sale-2' },
      transaction: { id: partner.tx.short },
      account: { code: partner.alice.code },
    });
    expect(byKind('MISSING_IN_LEDGER')[0]).toMatchObject({
      expectedAmount: '40',
      ledgerAmount: null,
      difference: '40',
      externalRecord: { externalId: 'sale-3' },
      transaction: null,
    });
    expect(byKind('MISSING_EXTERNALLY')[0]).toMatchObject({
      expectedAmount: null,
      ledgerAmount: '75',
      difference: '-75',
      externalRecord: null,
      transaction: { id: partner.tx.unreported },
      account: { code: partner.bob.code },
    });
    expect(byKind('DUPLICATE_EXTERNAL')[0]).toMatchObject({
      externalRecord: { externalId: 'sale-1-again' },
      transaction: { id: partner.tx.agreed },
    });
    const filtered = await exceptionsOf(t, run.id, 'MISSING_IN_LEDGER');
    expect(filtered.map((exception) => exception.kind)).toEqual(['MISSING_IN_LEDGER']);
  });

  it('records a high-water mark in which every posting it read had committed, and a later one had not', async () => {
    const partner = await story();
    const run = await runReconciliation(t, partner.sourceId, 'DRY_RUN');
    const later = await earn(t, partner.bob.id, '5', key('order'));
    const xidOf = async (transactionId: string) =>
      BigInt(
        (
          await t.db.pool.query('SELECT xid::text FROM ledger_events WHERE transaction_id = $1 AND type = 1', [
            transactionId,
          ])
        ).rows[0].xid,
      );
    for (const transactionId of Object.values(partner.tx))
      expect(visibleIn(run.journalHighWater, await xidOf(transactionId))).toBe(true);
    expect(visibleIn(run.journalHighWater, await xidOf(later))).toBe(false);
  });

  it('pages exceptions in report order with cursors', async () => {
    const partner = await story();
    const run = await runReconciliation(t, partner.sourceId, 'DRY_RUN');
    const all = await exceptionsOf(t, run.id);
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const data: any = ok(
        await t.gql(
          'query($id: ID!, $after: String) { reconciliationRun(id: $id) { exceptions(first: 1, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } }',
          { id: run.id, after },
        ),
      );
      const connection = data.reconciliationRun.exceptions;
      seen.push(...connection.edges.map((edge: any) => edge.node.id));
      if (!connection.pageInfo.hasNextPage) break;
      after = connection.pageInfo.endCursor;
    }
    expect(seen).toEqual(all.map((exception) => exception.id));
  });

  it('a DRY_RUN changes no match and no record; a COMMIT matches; a second COMMIT adds nothing', async () => {
    const partner = await story();
    await runReconciliation(t, partner.sourceId, 'DRY_RUN');
    expect(await matchesOf(partner.sourceId)).toBe(0);
    expect([...(await recordsOf(t, partner.sourceId)).values()].map((record) => record.status)).toEqual([
      'UNMATCHED',
      'UNMATCHED',
      'UNMATCHED',
      'UNMATCHED',
    ]);

    const committed = await runReconciliation(t, partner.sourceId, 'COMMIT');
    expect(committed.summary).toEqual(STORY_SUMMARY);
    expect(await matchesOf(partner.sourceId)).toBe(1);
    const records = await recordsOf(t, partner.sourceId);
    expect(records.get('sale-1')!.status).toBe('MATCHED');
    expect(records.get('sale-1-again')!.status).toBe('UNMATCHED');
    const matched = ok(
      await t.gql(
        'query($s: ID!) { externalRecords(sourceId: $s, status: MATCHED) { edges { node { externalId matchedTransaction { id } } } } }',
        { s: partner.sourceId },
      ),
    ).externalRecords.edges;
    expect(matched).toEqual([{ node: { externalId: 'sale-1', matchedTransaction: { id: partner.tx.agreed } } }]);

    const again = await runReconciliation(t, partner.sourceId, 'COMMIT');
    expect(again.id).not.toBe(committed.id);
    expect(again.summary).toEqual(STORY_SUMMARY);
    expect(await matchesOf(partner.sourceId)).toBe(1);
  });

  it('gives the same result when run again over the same inputs', async () => {
    const partner = await story();
    const first = await runReconciliation(t, partner.sourceId, 'DRY_RUN');
    const second = await runReconciliation(t, partner.sourceId, 'DRY_RUN');
    const shape = (exceptions: any[]) =>
      exceptions.map((exception) => [
        exception.kind,
        exception.externalRecord?.id ?? null,
        exception.transaction?.id ?? null,
        exception.difference,
      ]);
    expect(second.summary).toEqual(first.summary);
    expect(shape(await exceptionsOf(t, second.id))).toEqual(shape(await exceptionsOf(t, first.id)));
  });

  it('answers the same run for the same key and input, and refuses the key for other input', async () => {
    const partner = await story();
    const window = aroundNow();
    const runKey = key('run');
    const first = await runReconciliation(t, partner.sourceId, 'DRY_RUN', window, runKey);
    const replay = await runReconciliation(t, partner.sourceId, 'DRY_RUN', window, runKey);
    expect(replay.id).toBe(first.id);
    const other = await t.gql(RUN, {
      i: { sourceId: partner.sourceId, mode: 'COMMIT', ...window, idempotencyKey: runKey },
    });
    expect(errorCode(other)).toBe('IDEMPOTENCY_CONFLICT');
    expect(await matchesOf(partner.sourceId)).toBe(0);
  });

  it('never double-matches when COMMIT runs race', async () => {
    const partner = await createPartner(t);
    const records = [];
    for (let index = 0; index < 30; index += 1) {
      const reference = key('order');
      await earn(t, partner.alice.id, String(10 + index), reference);
      records.push(partnerRecord(`sale-${index}`, reference, String(10 + index), partner.alice.code));
    }
    await importRecords(t, partner.sourceId, records);
    const runs = await Promise.all(Array.from({ length: 6 }, () => runReconciliation(t, partner.sourceId, 'COMMIT')));
    for (const run of runs) {
      expect(run.status).toBe('COMPLETED');
      expect(run.summary).toMatchObject({ externalRecords: 30, matched: 30, missingInLedger: 0, missingExternally: 0 });
    }
    expect(await matchesOf(partner.sourceId)).toBe(30);
    const { rows } = await t.db.pool.query(
      'SELECT count(DISTINCT run_id)::int AS runs FROM reconciliation_matches WHERE source_id = $1',
      [partner.sourceId],
    );
    expect(rows[0].runs).toBe(1);
  });

  it('derives a record’s MATCHED status from its match, and a new version of it reads UNMATCHED', async () => {
    const partner = await story();
    await runReconciliation(t, partner.sourceId, 'COMMIT');
    // Matching writes no record row: the stored column stays as imported, the status read is the match.
    const { rows } = await t.db.pool.query(
      `SELECT r.external_id, r.status, r.version FROM reconciliation_records r
        WHERE r.source_id = $1 ORDER BY r.external_id, r.version`,
      [partner.sourceId],
    );
    expect(rows.map((row) => row.status)).toEqual(['UNMATCHED', 'UNMATCHED', 'UNMATCHED', 'UNMATCHED']);
    const byStatus = async (status: string) =>
      ok(
        await t.gql(
          'query($s: ID!, $st: ExternalRecordStatus) { externalRecords(sourceId: $s, status: $st) { edges { node { externalId status } } } }',
          { s: partner.sourceId, st: status },
        ),
      ).externalRecords.edges.map((edge: any) => edge.node.externalId);
    expect(await byStatus('MATCHED')).toEqual(['sale-1']);
    expect((await byStatus('UNMATCHED')).sort()).toEqual(['sale-1-again', 'sale-2', 'sale-3']);

    // Other content for the matched record: the match stays with the version it was made on.
    await importRecords(t, partner.sourceId, [partnerRecord('sale-1', partner.refs.agreed, '101', partner.alice.code)]);
    const records = await recordsOf(t, partner.sourceId);
    expect(records.get('sale-1')).toMatchObject({ version: 2, status: 'UNMATCHED' });
    const versions = ok(
      await t.gql(
        'query($s: ID!) { externalRecords(sourceId: $s, externalId: "sale-1") { edges { node { version status } } } }',
        { s: partner.sourceId },
      ),
    ).externalRecords.edges.map((edge: any) => edge.node);
    expect(versions).toEqual([
      { version: 1, status: 'MATCHED' },
      { version: 2, status: 'UNMATCHED' },
    ]);
  });

  it('keeps what the matches’ foreign keys guaranteed: references exist, matched rows stay', async () => {
    const partner = await story();
    await runReconciliation(t, partner.sourceId, 'COMMIT');
    const { rows } = await t.db.pool.query(
      'SELECT root_ledger_id, source_id, transaction_id, record_id FROM reconciliation_matches WHERE source_id = $1',
      [partner.sourceId],
    );
    const match = rows[0];
    const { rows: others } = await t.db.pool.query(
      `SELECT r.id FROM reconciliation_records r WHERE r.source_id = $1 AND r.external_id = 'sale-3'`,
      [partner.sourceId],
    );
    const insert = (values: unknown[]) =>
      t.db.pool.query(
        `INSERT INTO reconciliation_matches (root_ledger_id, source_id, transaction_id, record_id, matched_by)
         VALUES ($1, $2, $3, $4, 'MANUAL')`,
        values,
      );
    const missing = '00000000-0000-7000-8000-000000000001';
    const code = (promise: Promise<unknown>) =>
      promise.then(
        () => 'ok',
        (error: { code?: string }) => error.code,
      );
    expect(await code(insert([match.root_ledger_id, partner.sourceId, missing, others[0].id]))).toBe('23503');
    expect(await code(insert([match.root_ledger_id, missing, partner.tx.unreported, others[0].id]))).toBe('23503');
    expect(await code(insert([match.root_ledger_id, partner.sourceId, partner.tx.unreported, missing]))).toBe('23503');
    // Each reference is checked on its own (20261208020000): the error names the one that is missing, also
    // when it is one row of many that are fine.
    const message = (promise: Promise<unknown>) =>
      promise.then(
        () => 'ok',
        (error: Error) => error.message,
      );
    expect(await message(insert([match.root_ledger_id, missing, partner.tx.unreported, others[0].id]))).toMatch(
      /names a source that does not exist/,
    );
    expect(await message(insert([match.root_ledger_id, partner.sourceId, missing, others[0].id]))).toMatch(
      /names a transaction that does not exist/,
    );
    expect(await message(insert([match.root_ledger_id, partner.sourceId, partner.tx.unreported, missing]))).toMatch(
      /names a record that does not exist/,
    );
    expect(
      await message(
        t.db.pool.query(
          `INSERT INTO reconciliation_matches (root_ledger_id, source_id, transaction_id, record_id, matched_by)
           VALUES ($1, $2, $3, $4, 'MANUAL'), ($1, $2, $5, $6, 'MANUAL')`,
          [match.root_ledger_id, partner.sourceId, partner.tx.unreported, others[0].id, missing, missing],
        ),
      ),
    ).toMatch(/names a transaction that does not exist/);
    expect(
      (
        await t.db.pool.query('SELECT count(*)::int AS n FROM reconciliation_matches WHERE source_id = $1', [
          partner.sourceId,
        ])
      ).rows[0].n,
    ).toBe(rows.length);
    expect(
      await code(
        t.db.pool.query('DELETE FROM reconciliation_records WHERE root_ledger_id = $1 AND id = $2', [
          match.root_ledger_id,
          match.record_id,
        ]),
      ),
    ).toBe('23503');
    expect(
      await code(
        t.db.pool.query('DELETE FROM reconciliation_sources WHERE root_ledger_id = $1 AND id = $2', [
          match.root_ledger_id,
          partner.sourceId,
        ]),
      ),
    ).toBe('23503');
    expect(
      await code(
        t.db.pool.query('UPDATE reconciliation_matches SET transaction_id = $2 WHERE record_id = $1', [
          match.record_id,
          missing,
        ]),
      ),
    ).toBe('23001');
    expect(
      await code(
        t.db.pool.query(
          `INSERT INTO reconciliation_records (id, root_ledger_id, source_id, external_id, version, is_current, asset_id,
                                               amount, direction, occurred_at, content_hash)
           SELECT $3, r.root_ledger_id, $2, 'orphan', 1, true, r.asset_id, 1, 'CREDIT', now(), '\\x00'
             FROM reconciliation_records r WHERE r.root_ledger_id = $1 AND r.id = $4`,
          [match.root_ledger_id, missing, '00000000-0000-7000-8000-000000000002', match.record_id],
        ),
      ),
    ).toBe('23503');
    expect(await matchesOf(partner.sourceId)).toBe(1);
  });

  it('reports a record that could match several transactions as AMBIGUOUS and matches neither', async () => {
    const partner = await createPartner(t, { rule: { referenceField: 'metadata.orderId', matchAccount: false } });
    const orderId = key('order');
    for (const accountId of [partner.alice.id, partner.bob.id]) {
      ok(
        await t.gql('mutation($i: IssueInput!) { issue(input: $i) { transaction { id } } }', {
          i: { accountId, asset: 'PTS', amount: '30', idempotencyKey: key('issue'), metadata: { orderId } },
        }),
      );
    }
    await importRecords(t, partner.sourceId, [partnerRecord('sale-x', orderId, '30', partner.alice.code)]);
    const run = await runReconciliation(t, partner.sourceId, 'COMMIT');
    expect(run.summary).toMatchObject({ externalRecords: 1, matched: 0, ambiguous: 1, missingExternally: 2 });
    expect(await matchesOf(partner.sourceId)).toBe(0);
  });

  it('refuses bad input with coded errors and starts no run', async () => {
    const partner = await createPartner(t);
    const window = aroundNow();
    const send = (i: Record<string, unknown>) =>
      t.gql(RUN, { i: { sourceId: partner.sourceId, mode: 'DRY_RUN', ...window, idempotencyKey: key('run'), ...i } });
    expect(errorCode(await send({ from: window.to, to: window.from }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await send({ from: '2020-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await send({ idempotencyKey: '' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await send({ idempotencyKey: 'x'.repeat(256) }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await send({ idempotencyKey: 'bad\u0000key' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await send({ sourceId: 'not-an-id' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await send({ sourceId: '0190d8c1-0000-7000-8000-000000000000' }))).toBe('NOT_FOUND');
    expect(errorCode(await send({ mode: 'DELETE' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await send({ from: 'yesterday' }))).toBe('BAD_USER_INPUT');
    const runs = ok(
      await t.gql('query($s: ID!) { reconciliationRuns(sourceId: $s) { edges { node { id } } } }', {
        s: partner.sourceId,
      }),
    ).reconciliationRuns.edges;
    expect(runs).toEqual([]);
  });

  it('lists a source’s runs newest first', async () => {
    const partner = await story();
    const first = await runReconciliation(t, partner.sourceId, 'DRY_RUN');
    const second = await runReconciliation(t, partner.sourceId, 'COMMIT');
    const runs = ok(
      await t.gql('query($s: ID!) { reconciliationRuns(sourceId: $s) { edges { node { id mode } } } }', {
        s: partner.sourceId,
      }),
    ).reconciliationRuns.edges.map((edge: any) => edge.node.id);
    expect(runs).toEqual([second.id, first.id]);
  });
});

describe('resolveReconciliationException', () => {
  const resolve = (id: string, input: Record<string, unknown>) =>
    t.gql(RESOLVE, { id, i: { note: 'checked with the partner', idempotencyKey: key('resolve'), ...input } });

  async function balanceOf(accountId: string): Promise<string> {
    return ok(
      await t.gql('query($id: ID!) { account(id: $id) { balance(asset: "PTS") { posted } } }', { id: accountId }),
    ).account.balance.posted;
  }

  it('posts the difference of a mismatch exactly once under 20 concurrent identical calls', async () => {
    const partner = await story();
    const run = await runReconciliation(t, partner.sourceId, 'COMMIT');
    const [mismatch] = await exceptionsOf(t, run.id, 'AMOUNT_MISMATCH');
    const before = await balanceOf(partner.alice.id);
    const input = { resolution: 'POST_ADJUSTMENT', note: 'partner counted 250', idempotencyKey: key('resolve') };
    const answers = await Promise.all(Array.from({ length: 20 }, () => t.gql(RESOLVE, { id: mismatch.id, i: input })));
    const resolved = answers.map((answer) => ok(answer).resolveReconciliationException);
    expect(new Set(resolved.map((exception) => exception.resolutionTransaction.id)).size).toBe(1);
    expect(resolved[0]).toMatchObject({
      status: 'RESOLVED',
      resolution: 'POST_ADJUSTMENT',
      note: 'partner counted 250',
      resolutionTransaction: { kind: 'ADJUST' },
    });
    expect(resolved[0].resolutionTransaction.entries).toEqual(
      expect.arrayContaining([{ direction: 'CREDIT', amount: '50', account: { code: partner.alice.code } }]),
    );
    expect(BigInt(await balanceOf(partner.alice.id)) - BigInt(before)).toBe(50n);
    const { rows } = await t.db.pool.query(
      `SELECT count(*)::int AS n FROM audit_events
        WHERE operation = 'resolveReconciliationException' AND ($1 = ANY (target_ids) OR $2 = ANY (target_ids))`,
      [mismatch.id, resolved[0].resolutionTransaction.id],
    );
    expect(rows[0].n).toBe(2);

    // The mismatch is now the pair it named; the adjustment is not the partner's to report.
    const next = await runReconciliation(t, partner.sourceId, 'COMMIT');
    expect(next.summary).toMatchObject({ matched: 2, amountMismatch: 0, missingExternally: 1, ledgerTransactions: 3 });
  });

  it('posts a missing movement and matches the record to it', async () => {
    const partner = await story();
    const run = await runReconciliation(t, partner.sourceId, 'COMMIT');
    const [missing] = await exceptionsOf(t, run.id, 'MISSING_IN_LEDGER');
    const before = await balanceOf(partner.bob.id);
    const resolved = ok(await resolve(missing.id, { resolution: 'POST_ADJUSTMENT' })).resolveReconciliationException;
    expect(resolved.externalRecord.status).toBe('MATCHED');
    expect(BigInt(await balanceOf(partner.bob.id)) - BigInt(before)).toBe(40n);
    const next = await runReconciliation(t, partner.sourceId, 'DRY_RUN');
    expect(next.summary).toMatchObject({ matched: 2, missingInLedger: 0 });
  });

  it('links a record to a named transaction, once', async () => {
    const partner = await story();
    const run = await runReconciliation(t, partner.sourceId, 'COMMIT');
    const [missing] = await exceptionsOf(t, run.id, 'MISSING_IN_LEDGER');
    const linked = ok(
      await resolve(missing.id, { resolution: 'MATCH_MANUALLY', transactionId: partner.tx.unreported }),
    ).resolveReconciliationException;
    expect(linked).toMatchObject({ status: 'RESOLVED', resolution: 'MATCH_MANUALLY', resolutionTransaction: null });
    const [duplicate] = await exceptionsOf(t, run.id, 'DUPLICATE_EXTERNAL');
    const taken = await resolve(duplicate.id, { resolution: 'MATCH_MANUALLY', transactionId: partner.tx.agreed });
    expect(errorCode(taken)).toBe('ALREADY_MATCHED');
    expect(await matchesOf(partner.sourceId)).toBe(2);
  });

  it('closes with a note, and later runs leave what was explained alone', async () => {
    const partner = await story();
    const run = await runReconciliation(t, partner.sourceId, 'COMMIT');
    const [unreported] = await exceptionsOf(t, run.id, 'MISSING_EXTERNALLY');
    const explained = ok(
      await resolve(unreported.id, { resolution: 'EXPLAIN', note: 'staff bonus, not a partner sale' }),
    ).resolveReconciliationException;
    expect(explained).toMatchObject({
      status: 'RESOLVED',
      resolution: 'EXPLAIN',
      note: 'staff bonus, not a partner sale',
    });
    const next = await runReconciliation(t, partner.sourceId, 'DRY_RUN');
    expect(next.summary).toMatchObject({ missingExternally: 0, ledgerTransactions: 2 });
  });

  it('reports a manual match to a posting outside the window as matched, with the posting’s amount', async () => {
    const partner = await createPartner(t);
    const old = ok(
      await t.gql('mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id } } }', {
        i: {
          ledgerId: partner.ledgerId,
          idempotencyKey: key('old'),
          kind: 'ISSUE',
          effectiveAt: new Date(Date.now() - 10 * 86_400_000).toISOString(),
          entries: [
            { accountCode: 'system:issuance', asset: 'PTS', direction: 'DEBIT', amount: '33' },
            { accountId: partner.alice.id, asset: 'PTS', direction: 'CREDIT', amount: '33' },
          ],
        },
      }),
    ).postTransaction.transaction.id;
    await importRecords(t, partner.sourceId, [partnerRecord('late-report', key('ref'), '33', partner.alice.code)]);
    const run = await runReconciliation(t, partner.sourceId, 'COMMIT');
    const [missing] = await exceptionsOf(t, run.id, 'MISSING_IN_LEDGER');
    ok(await resolve(missing.id, { resolution: 'MATCH_MANUALLY', transactionId: old }));
    const next = await runReconciliation(t, partner.sourceId, 'DRY_RUN');
    expect(next.summary).toMatchObject({ externalRecords: 1, matched: 1, missingInLedger: 0, ledgerTransactions: 1 });
    const { rows } = await t.db.pool.query(
      'SELECT transaction_id, ledger_amount::text AS amount FROM reconciliation_run_matches WHERE run_id = $1',
      [next.id],
    );
    expect(rows).toEqual([{ transaction_id: old, amount: '33' }]);
  });

  it('refuses what does not fit, changing nothing', async () => {
    const partner = await story();
    const run = await runReconciliation(t, partner.sourceId, 'COMMIT');
    const [unreported] = await exceptionsOf(t, run.id, 'MISSING_EXTERNALLY');
    const [mismatch] = await exceptionsOf(t, run.id, 'AMOUNT_MISMATCH');
    expect(
      errorCode(await resolve(unreported.id, { resolution: 'MATCH_MANUALLY', transactionId: partner.tx.agreed })),
    ).toBe('BAD_USER_INPUT');
    expect(errorCode(await resolve(mismatch.id, { resolution: 'MATCH_MANUALLY' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await resolve(mismatch.id, { resolution: 'EXPLAIN', transactionId: partner.tx.agreed }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await resolve(mismatch.id, { resolution: 'EXPLAIN', note: '   ' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await resolve(mismatch.id, { resolution: 'EXPLAIN', note: 'x'.repeat(2001) }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await resolve(mismatch.id, { resolution: 'EXPLAIN', note: 'a\u0000b' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await resolve(mismatch.id, { resolution: 'EXPLAIN', idempotencyKey: '' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await resolve('nope', { resolution: 'EXPLAIN' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await resolve('0190d8c1-0000-7000-8000-000000000000', { resolution: 'EXPLAIN' }))).toBe(
      'NOT_FOUND',
    );
    expect(
      errorCode(
        await resolve(mismatch.id, {
          resolution: 'MATCH_MANUALLY',
          transactionId: '0190d8c1-0000-7000-8000-000000000000',
        }),
      ),
    ).toBe('NOT_FOUND');
    const open = await exceptionsOf(t, run.id);
    expect(open.every((exception) => exception.status === 'OPEN')).toBe(true);

    const firstKey = key('resolve');
    ok(await resolve(mismatch.id, { resolution: 'EXPLAIN', idempotencyKey: firstKey }));
    expect(errorCode(await resolve(mismatch.id, { resolution: 'EXPLAIN' }))).toBe('ALREADY_RESOLVED');
    expect(
      errorCode(await resolve(mismatch.id, { resolution: 'EXPLAIN', note: 'other', idempotencyKey: firstKey })),
    ).toBe('IDEMPOTENCY_CONFLICT');
    expect(errorCode(await resolve(unreported.id, { resolution: 'EXPLAIN', idempotencyKey: firstKey }))).toBe(
      'IDEMPOTENCY_CONFLICT',
    );
  });
});
