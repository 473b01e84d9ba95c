import { key } from './support/builders';
import {
  createApiKey,
  createPartner,
  earn,
  importRecords,
  partnerRecord,
  runReconciliation,
} from './support/reconciliation-runs';
import { ADMIN_KEY, ok, startTestServer, type TestServer } from './support/server';
import { connectAs, eventually } from './support/ws';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

async function report(
  runId: string,
  secret: string | null = ADMIN_KEY,
): Promise<{ status: number; type: string | null; body: string }> {
  const base = t.url.replace(/\/graphql$/, '');
  const response = await fetch(`${base}/reconciliation/runs/${runId}/report.csv`, {
    headers: secret === null ? {} : { authorization: `Bearer ${secret}` },
  });
  return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
}

/** A minimal RFC 4180 reader, to check the report parses back to what was written. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index]!;
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') {
        field += '"';
        index += 1;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      row.push(field);
      field = '';
    } else if (char === '\r' && text[index + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      index += 1;
    } else field += char;
  }
  return rows;
}

describe('GET /reconciliation/runs/{id}/report.csv', () => {
  it('lists every exception and every match, quoted, with partner text that cannot run as a formula', async () => {
    const partner = await createPartner(t);
    const agreed = key('order');
    await earn(t, partner.alice.id, '100', agreed);
    const unreported = await earn(t, partner.bob.id, '75', key('order'));
    await importRecords(t, partner.sourceId, [
      partnerRecord('sale, "one"', agreed, '100', partner.alice.code),
      partnerRecord('=HYPERLINK("http://evil.example","x")', '+cmd|calc', '40', partner.bob.code),
    ]);
    const run = await runReconciliation(t, partner.sourceId, 'COMMIT');
    const answer = await report(run.id);
    expect(answer.status).toBe(200);
    expect(answer.type).toBe('text/csv; charset=utf-8');
    const rows = parseCsv(answer.body);
    const [header, ...lines] = rows;
    expect(header).toEqual([
      'row',
      'kind',
      'status',
      'externalId',
      'recordId',
      'transactionId',
      'reference',
      'accountCode',
      'asset',
      'expectedAmount',
      'ledgerAmount',
      'difference',
      'resolution',
      'note',
      'exceptionId',
    ]);
    const column = (name: string) => header!.indexOf(name);
    expect(lines).toHaveLength(3);
    const missing = lines.find((line) => line[column('kind')] === 'MISSING_IN_LEDGER')!;
    expect(missing[column('externalId')]).toBe(`'=HYPERLINK("http://evil.example","x")`);
    expect(missing[column('reference')]).toBe("'+cmd|calc");
    expect(missing[column('difference')]).toBe('40');
    const externally = lines.find((line) => line[column('kind')] === 'MISSING_EXTERNALLY')!;
    expect(externally[column('transactionId')]).toBe(unreported);
    expect(externally[column('difference')]).toBe('-75');
    const matched = lines.find((line) => line[column('kind')] === 'MATCHED')!;
    expect(matched[column('externalId')]).toBe('sale, "one"');
    expect(matched[column('expectedAmount')]).toBe('100');
    expect(lines.map((line) => line[column('row')])).toEqual(['1', '2', '3']);
  });

  it('is refused as the API refuses the run: no credential, another scope, a bad or unknown id', async () => {
    const partner = await createPartner(t);
    const run = await runReconciliation(t, partner.sourceId, 'DRY_RUN');
    const other = await createPartner(t);
    const outsider = await createApiKey(t, { ledgerId: other.ledgerId, role: 'READER' });
    const reader = await createApiKey(t, { ledgerId: partner.ledgerId, role: 'READER' });
    expect((await report(run.id, null)).status).toBe(401);
    const forbidden = await report(run.id, outsider);
    expect(forbidden.status).toBe(403);
    expect(JSON.parse(forbidden.body).errors[0].extensions.code).toBe('FORBIDDEN');
    expect((await report('not-a-run')).status).toBe(400);
    expect((await report('0190d8c1-0000-7000-8000-000000000000')).status).toBe(404);
    expect((await report(run.id, reader)).status).toBe(200);
  });
});

describe('reconciliationUpdated', () => {
  it('pushes a run as it starts and as it completes', async () => {
    const partner = await createPartner(t);
    await importRecords(t, partner.sourceId, [partnerRecord('sale-1', key('order'), '10', partner.alice.code)]);
    const client = connectAs(t, ADMIN_KEY);
    const before = t.server.services.reconciliationRuns.subscriberCount();
    const live = client.subscribe(
      'subscription($s: ID!) { reconciliationUpdated(sourceId: $s) { id status summary { externalRecords missingInLedger } } }',
      { s: partner.sourceId },
    );
    await eventually(() => t.server.services.reconciliationRuns.subscriberCount() > before);
    const run = await runReconciliation(t, partner.sourceId, 'DRY_RUN');
    const started = (await live.next()).data!.reconciliationUpdated;
    const finished = (await live.next()).data!.reconciliationUpdated;
    expect(started).toMatchObject({ id: run.id, status: 'RUNNING' });
    expect(finished).toEqual({ id: run.id, status: 'COMPLETED', summary: { externalRecords: 1, missingInLedger: 1 } });
    live.unsubscribe();
    await client.dispose();
  });

  it('refuses a subscriber outside the source’s scope', async () => {
    const partner = await createPartner(t);
    const other = await createPartner(t);
    const outsider = await createApiKey(t, { ledgerId: other.ledgerId, role: 'ADMIN' });
    const client = connectAs(t, outsider);
    const live = client.subscribe('subscription($s: ID!) { reconciliationUpdated(sourceId: $s) { id } }', {
      s: partner.sourceId,
    });
    const first = await live.next();
    expect(first.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    await client.dispose();
    expect(ok(await t.gql('{ __typename }')).__typename).toBe('Query');
  });
});
