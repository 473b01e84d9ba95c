import { createAsset, createLedger, key } from './support/builders';
import { createSource, httpImport, IMPORT_RECORDS, recordsOf } from './support/reconciliation';
import { errorCode, ok, startTestServer, type TestServer } from './support/server';

let t: TestServer;
let ledgerId: string;

beforeAll(async () => {
  t = await startTestServer();
  ledgerId = (await createLedger(t)).id;
  await createAsset(t, ledgerId, 'PTS');
  await createAsset(t, ledgerId, 'USD', 2);
});
afterAll(async () => {
  await t.stop();
});

const record = (externalId: string, amount: string | number = '100', extra: Record<string, unknown> = {}) => ({
  externalId,
  asset: 'PTS',
  amount,
  direction: 'CREDIT',
  occurredAt: '2026-11-21T09:30:00Z',
  reference: `order-${externalId}`,
  ...extra,
});

describe('sources and rules', () => {
  it('creates a source on a ledger and lists it in the subtree', async () => {
    const child = await createLedger(t, { parentId: ledgerId });
    const source = await createSource(t, child.id, { code: 'pos-1', name: 'Store POS' });
    const found = ok(
      await t.gql(
        'query($id: ID!) { externalSource(id: $id) { id code name continuous rulesVersion ledger { id } rules { id } } }',
        {
          id: source.id,
        },
      ),
    ).externalSource;
    expect(found).toEqual({
      id: source.id,
      code: 'pos-1',
      name: 'Store POS',
      continuous: false,
      rulesVersion: 0,
      ledger: { id: child.id },
      rules: [],
    });
    const listed = ok(
      await t.gql('query($l: ID!) { externalSources(ledgerId: $l) { edges { node { id } } } }', { l: ledgerId }),
    ).externalSources.edges.map((edge: any) => edge.node.id);
    expect(listed).toContain(source.id);
  });

  it('refuses a second source with the same code in the tree', async () => {
    const code = key('dup');
    await createSource(t, ledgerId, { code });
    const again = await t.gql('mutation($i: CreateExternalSourceInput!) { createExternalSource(input: $i) { id } }', {
      i: { ledgerId, code, name: 'again' },
    });
    expect(errorCode(again)).toBe('BAD_USER_INPUT');
  });

  it('orders rules by priority, bumps the rules version, and retires the rule of a taken priority', async () => {
    const source = await createSource(t, ledgerId);
    const create = (input: Record<string, unknown>) =>
      t.gql(
        'mutation($i: CreateMatchRuleInput!) { createMatchRule(input: $i) { id priority referenceField matchAccount amountTolerance dateWindowSeconds version } }',
        {
          i: { sourceId: source.id, ...input },
        },
      );
    const second = ok(
      await create({ priority: 20, referenceField: 'metadata.orderId', amountTolerance: '5' }),
    ).createMatchRule;
    expect(second).toMatchObject({
      referenceField: 'metadata.orderId',
      matchAccount: true,
      amountTolerance: '5',
      dateWindowSeconds: 86400,
      version: 1,
    });
    const first = ok(await create({ priority: 10 })).createMatchRule;
    expect(first).toMatchObject({ referenceField: 'idempotencyKey', amountTolerance: '0', version: 2 });
    const replacement = ok(await create({ priority: 20, matchAccount: false, dateWindowSeconds: 0 })).createMatchRule;
    expect(replacement.version).toBe(3);
    const shown = ok(
      await t.gql('query($id: ID!) { externalSource(id: $id) { rulesVersion rules { id priority } } }', {
        id: source.id,
      }),
    ).externalSource;
    expect(shown.rulesVersion).toBe(3);
    expect(shown.rules).toEqual([
      { id: first.id, priority: 10 },
      { id: replacement.id, priority: 20 },
    ]);
    const kept = await t.db.pool.query('SELECT retired_at FROM reconciliation_rules WHERE id = $1', [second.id]);
    expect(kept.rows[0].retired_at).toBeInstanceOf(Date);
    for (const bad of [
      { priority: 0 },
      { priority: 1, referenceField: 'metadata.' },
      { priority: 1, referenceField: 'description' },
      { priority: 1, amountTolerance: '-1' },
      { priority: 1, dateWindowSeconds: 40_000_000 },
    ]) {
      expect(errorCode(await create(bad))).toBe('BAD_USER_INPUT');
    }
    expect(
      ok(await t.gql('query($id: ID!) { externalSource(id: $id) { rulesVersion } }', { id: source.id })).externalSource
        .rulesVersion,
    ).toBe(3);
  });
});

describe('importExternalRecords (GraphQL)', () => {
  it('inserts, then keeps the same content unchanged and versions changed content', async () => {
    const source = await createSource(t, ledgerId);
    const first = ok(
      await t.gql(IMPORT_RECORDS, {
        i: { sourceId: source.id, idempotencyKey: key(), records: [record('a'), record('b'), record('c')] },
      }),
    ).importExternalRecords;
    expect(first).toMatchObject({
      inserted: 3,
      updated: 0,
      unchanged: 0,
      rejectedCount: 0,
      replayed: false,
      rejected: [],
    });
    const second = ok(
      await t.gql(IMPORT_RECORDS, {
        i: { sourceId: source.id, idempotencyKey: key(), records: [record('a'), record('b', '150'), record('d')] },
      }),
    ).importExternalRecords;
    expect(second).toMatchObject({ inserted: 1, updated: 1, unchanged: 1, rejectedCount: 0 });
    const current = await recordsOf(t, source.id);
    expect(current.get('a')).toEqual({ version: 1, amount: '100', status: 'UNMATCHED' });
    expect(current.get('b')).toEqual({ version: 2, amount: '150', status: 'UNMATCHED' });
    expect(current.size).toBe(4);
    const history = ok(
      await t.gql(
        'query($s: ID!) { externalRecords(sourceId: $s, externalId: "b") { edges { node { version amount isCurrent asset { code } source { id } matchedTransaction { id } } } } }',
        {
          s: source.id,
        },
      ),
    ).externalRecords.edges.map((edge: any) => edge.node);
    expect(history).toEqual([
      {
        version: 1,
        amount: '100',
        isCurrent: false,
        asset: { code: 'PTS' },
        source: { id: source.id },
        matchedTransaction: null,
      },
      {
        version: 2,
        amount: '150',
        isCurrent: true,
        asset: { code: 'PTS' },
        source: { id: source.id },
        matchedTransaction: null,
      },
    ]);
  });

  it('treats metadata with keys in another order as the same content', async () => {
    const source = await createSource(t, ledgerId);
    const send = (metadata: Record<string, unknown>) =>
      t.gql(IMPORT_RECORDS, {
        i: { sourceId: source.id, idempotencyKey: key(), records: [record('m', '1', { metadata })] },
      });
    expect(ok(await send({ x: 1, y: 'two' })).importExternalRecords.inserted).toBe(1);
    expect(ok(await send({ y: 'two', x: 1 })).importExternalRecords.unchanged).toBe(1);
    expect(ok(await send({ y: 'three', x: 1 })).importExternalRecords.updated).toBe(1);
  });

  it('replays a repeated key with the same records and refuses it with other records', async () => {
    const source = await createSource(t, ledgerId);
    const idempotencyKey = key();
    const input = { sourceId: source.id, idempotencyKey, records: [record('r1'), record('r2')] };
    const first = ok(await t.gql(IMPORT_RECORDS, { i: input })).importExternalRecords;
    const again = ok(await t.gql(IMPORT_RECORDS, { i: input })).importExternalRecords;
    expect(again).toEqual({ ...first, replayed: true });
    const other = await t.gql(IMPORT_RECORDS, { i: { ...input, records: [record('r1', '7')] } });
    expect(errorCode(other)).toBe('IDEMPOTENCY_CONFLICT');
    expect((await recordsOf(t, source.id)).get('r1')!.amount).toBe('100');
  });

  it('rejects bad records by position and imports the others', async () => {
    const source = await createSource(t, ledgerId);
    const result = ok(
      await t.gql(IMPORT_RECORDS, {
        i: {
          sourceId: source.id,
          idempotencyKey: key(),
          records: [
            record('ok-1'),
            record('bad-asset', '1', { asset: 'NOPE' }),
            record('zero', '0'),
            record('negative', '-5'),
            record('x'.repeat(256)),
            record('ok-2', '9223372036854775807'),
            record('long-ref', '1', { reference: 'r'.repeat(256) }),
            record('ok-1'),
          ],
        },
      }),
    ).importExternalRecords;
    expect(result.inserted).toBe(2);
    expect(result.rejectedCount).toBe(6);
    expect(result.rejected.map((r: any) => [r.line, r.externalId])).toEqual([
      [2, 'bad-asset'],
      [3, 'zero'],
      [4, 'negative'],
      [5, 'x'.repeat(255)],
      [7, 'long-ref'],
      [8, 'ok-1'],
    ]);
    expect(result.rejected[0].message).toMatch(/asset NOPE does not exist/);
    expect(result.rejected[5].message).toMatch(/already appears at line 1/);
  });

  it('refuses more than 1,000 records a call, importing nothing', async () => {
    const source = await createSource(t, ledgerId);
    const records = Array.from({ length: 1001 }, (_, i) => record(`n${i}`));
    const response = await t.gql(IMPORT_RECORDS, { i: { sourceId: source.id, idempotencyKey: key(), records } });
    expect(errorCode(response)).toBe('IMPORT_TOO_LARGE');
    expect((await recordsOf(t, source.id)).size).toBe(0);
  });

  it('writes an audit event naming the source and the import', async () => {
    const source = await createSource(t, ledgerId);
    const result = ok(
      await t.gql(IMPORT_RECORDS, { i: { sourceId: source.id, idempotencyKey: key(), records: [record('audited')] } }),
    ).importExternalRecords;
    const audit = await t.db.pool.query(
      "SELECT target_ids FROM audit_events WHERE operation = 'importExternalRecords' AND $1 = ANY(target_ids)",
      [result.id],
    );
    expect(audit.rows).toEqual([{ target_ids: [source.id, result.id] }]);
  });
});

describe('the streamed HTTP import', () => {
  const HEADER = 'externalId,asset,amount,direction,occurredAt,reference,accountCode\n';

  it('imports CSV with RFC 4180 quoting and answers the ImportResult', async () => {
    const source = await createSource(t, ledgerId);
    const body =
      HEADER +
      'c1,PTS,100,CREDIT,2026-11-21T09:30:00Z,"order, with comma",acct-1\r\n' +
      'c2,USD,250,DEBIT,2026-11-21T09:31:00+01:00,"say ""hi""",\n' +
      'c3,PTS,5,CREDIT,2026-11-21T09:32:00Z,"two\nlines",\n' +
      'c4,PTS,+5,CREDIT,2026-11-21T09:32:00Z,,\n' +
      'c5,PTS,5,SIDEWAYS,2026-11-21T09:32:00Z,,\n' +
      'c6,PTS,5,CREDIT,2026-02-30T00:00:00Z,,\n' +
      'c7,PTS,5,CREDIT\n' +
      '\n' +
      'c8,PTS,007,CREDIT,2026-11-21T09:32:00Z,,\n' +
      'c9,PTS,99999999999999999999,CREDIT,2026-11-21T09:32:00Z,,\n';
    const answer = await httpImport(t, source.id, body);
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ inserted: 2, updated: 0, unchanged: 0, rejectedCount: 7, replayed: false });
    // A quoted line break is read as part of its field (and refused there: no control characters).
    expect(answer.body.rejected.map((r: any) => [r.line, r.externalId])).toEqual([
      [4, 'c3'],
      [6, 'c4'],
      [7, 'c5'],
      [8, 'c6'],
      [9, 'c7'],
      [11, 'c8'],
      [12, 'c9'],
    ]);
    const rows = await t.db.pool.query(
      'SELECT external_id, reference, account_code, amount::text, occurred_at FROM reconciliation_records WHERE source_id = $1 ORDER BY external_id',
      [source.id],
    );
    expect(rows.rows).toEqual([
      {
        external_id: 'c1',
        reference: 'order, with comma',
        account_code: 'acct-1',
        amount: '100',
        occurred_at: new Date('2026-11-21T09:30:00Z'),
      },
      {
        external_id: 'c2',
        reference: 'say "hi"',
        account_code: null,
        amount: '250',
        occurred_at: new Date('2026-11-21T08:31:00Z'),
      },
    ]);
  });

  it('rejects a control character in a field but keeps the rest', async () => {
    const source = await createSource(t, ledgerId);
    const answer = await httpImport(
      t,
      source.id,
      `${HEADER}ok,PTS,1,CREDIT,2026-11-21T09:30:00Z,,\n"bad\u0001",PTS,1,CREDIT,2026-11-21T09:30:00Z,,\n`,
    );
    expect(answer.body).toMatchObject({ inserted: 1, rejectedCount: 1 });
  });

  it('accepts columns in any order and without the optional ones', async () => {
    const source = await createSource(t, ledgerId);
    const answer = await httpImport(
      t,
      source.id,
      'amount,externalId,occurredAt,direction,asset\n10,o1,2026-11-21T09:30:00Z,DEBIT,PTS\n',
    );
    expect(answer.body).toMatchObject({ inserted: 1, rejectedCount: 0 });
  });

  it('imports NDJSON, metadata included, and rejects lines that are not records', async () => {
    const source = await createSource(t, ledgerId);
    const lines = [
      JSON.stringify(record('n1', '10', { metadata: { orderId: 'A-1' } })),
      JSON.stringify(record('n2', 20)),
      'not json',
      '[1,2]',
      JSON.stringify({ ...record('n3'), colour: 'red' }),
      '',
      JSON.stringify(record('n4', '1', { occurredAt: '2026-11-21 09:30' })),
    ];
    const answer = await httpImport(t, source.id, lines.join('\n'), { contentType: 'application/x-ndjson' });
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ inserted: 2, rejectedCount: 4 });
    expect(answer.body.rejected.map((r: any) => [r.line, r.externalId])).toEqual([
      [3, null],
      [4, null],
      [5, 'n3'],
      [7, 'n4'],
    ]);
    const meta = await t.db.pool.query(
      "SELECT metadata FROM reconciliation_records WHERE source_id = $1 AND external_id = 'n1'",
      [source.id],
    );
    expect(meta.rows[0].metadata).toEqual({ orderId: 'A-1' });
  });

  it('replays a repeated Idempotency-Key with the same body and refuses another body under it', async () => {
    const source = await createSource(t, ledgerId);
    const idempotencyKey = key();
    const body = `${HEADER}k1,PTS,1,CREDIT,2026-11-21T09:30:00Z,,\n`;
    const first = await httpImport(t, source.id, body, { idempotencyKey });
    const again = await httpImport(t, source.id, body, { idempotencyKey });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, replayed: true });
    const other = await httpImport(t, source.id, `${HEADER}k1,PTS,2,CREDIT,2026-11-21T09:30:00Z,,\n`, {
      idempotencyKey,
    });
    expect(other.status).toBe(409);
    expect(other.body.errors[0].extensions.code).toBe('IDEMPOTENCY_CONFLICT');
    expect((await recordsOf(t, source.id)).get('k1')!.amount).toBe('1');
  });

  it('streams a body that arrives in small chunks split inside quoted fields', async () => {
    const source = await createSource(t, ledgerId);
    const rows = Array.from(
      { length: 2_000 },
      (_, i) => `s${i},PTS,${i + 1},CREDIT,2026-11-21T09:30:00Z,"ref, ""${i}""",\n`,
    );
    const text = Buffer.from(HEADER + rows.join(''));
    async function* chunks() {
      for (let at = 0; at < text.length; at += 7) yield text.subarray(at, at + 7);
    }
    const answer = await httpImport(t, source.id, chunks());
    expect(answer.body).toMatchObject({ inserted: 2_000, rejectedCount: 0 });
    const sample = await t.db.pool.query(
      "SELECT reference FROM reconciliation_records WHERE source_id = $1 AND external_id = 's1999'",
      [source.id],
    );
    expect(sample.rows[0].reference).toBe('ref, "1999"');
  });

  it('stores backslashes, tabs in metadata and non-ASCII text exactly (COPY escaping)', async () => {
    const source = await createSource(t, ledgerId);
    const metadata = { path: 'C:\\new\\table', note: 'tab\there', emoji: 'Łódź ☕', nested: { a: ['\\N', null] } };
    const lines = [JSON.stringify(record('esc-1', '3', { reference: 'back\\slash \\N', metadata }))];
    const answer = await httpImport(t, source.id, lines.join('\n'), { contentType: 'application/x-ndjson' });
    expect(answer.body).toMatchObject({ inserted: 1, rejectedCount: 0 });
    const stored = await t.db.pool.query(
      "SELECT reference, metadata FROM reconciliation_records WHERE source_id = $1 AND external_id = 'esc-1'",
      [source.id],
    );
    expect(stored.rows[0]).toEqual({ reference: 'back\\slash \\N', metadata });
    const again = await httpImport(t, source.id, lines.join('\n'), { contentType: 'application/x-ndjson' });
    expect(again.body).toMatchObject({ inserted: 0, unchanged: 1 });
  });
});

describe('concurrent imports', () => {
  it('answers 8 concurrent imports under one key with one import and 7 replays', async () => {
    const source = await createSource(t, ledgerId);
    const input = { sourceId: source.id, idempotencyKey: key(), records: [record('c-1'), record('c-2')] };
    const results = await Promise.all(Array.from({ length: 8 }, () => t.gql(IMPORT_RECORDS, { i: input })));
    const payloads = results.map((result) => ok(result).importExternalRecords);
    expect(payloads.filter((p) => !p.replayed)).toHaveLength(1);
    expect(new Set(payloads.map((p) => p.id)).size).toBe(1);
    expect((await recordsOf(t, source.id)).size).toBe(2);
  });

  it('merges concurrent imports of one source in turn: every change a version, none lost', async () => {
    const source = await createSource(t, ledgerId);
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, n) =>
        t.gql(IMPORT_RECORDS, {
          i: {
            sourceId: source.id,
            idempotencyKey: key(),
            records: [record('shared', String(n + 1)), record(`own-${n}`)],
          },
        }),
      ),
    );
    const payloads = results.map((result) => ok(result).importExternalRecords);
    expect(payloads.reduce((sum, p) => sum + p.inserted, 0)).toBe(7);
    expect(payloads.reduce((sum, p) => sum + p.updated, 0)).toBe(5);
    const versions = await t.db.pool.query(
      "SELECT version, is_current FROM reconciliation_records WHERE source_id = $1 AND external_id = 'shared' ORDER BY version",
      [source.id],
    );
    expect(versions.rows.map((row) => row.version)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(versions.rows.filter((row) => row.is_current)).toHaveLength(1);
  });
});
