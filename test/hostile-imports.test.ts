import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { createAsset, createLedger, key } from './support/builders';
import { createSource, httpImport } from './support/reconciliation';
import { ok, startTestServer, type TestServer } from './support/server';

/**
 * The streamed import (POST /reconciliation/sources/{id}/records) against hostile bodies and headers, over
 * real HTTP: each is answered with a clear 4xx and a coded error, and leaves no record, no import and no
 * audit row behind.
 */
let t: TestServer;
let ledgerId: string;
let otherTenantAdmin: string;

const HEADER = 'externalId,asset,amount,direction,occurredAt,reference,accountCode\n';
const GOOD = (i: number) => `g${i},PTS,1,CREDIT,2026-11-21T09:30:00Z,,\n`;

beforeAll(async () => {
  t = await startTestServer();
  ledgerId = (await createLedger(t)).id;
  await createAsset(t, ledgerId, 'PTS');
  const other = await createLedger(t);
  otherTenantAdmin = ok(
    await t.gql('mutation($l: ID!) { createApiKey(input: { name: "other", role: ADMIN, ledgerId: $l }) { secret } }', {
      l: other.id,
    }),
  ).createApiKey.secret;
});
afterAll(async () => {
  await t.stop();
});

async function nothingChanged(sourceId: string): Promise<void> {
  const counts = await t.db.pool.query(
    `SELECT (SELECT count(*) FROM reconciliation_records WHERE source_id = $1)::int AS records,
            (SELECT count(*) FROM reconciliation_imports WHERE source_id = $1)::int AS imports,
            (SELECT count(*) FROM audit_events WHERE operation = 'importExternalRecords' AND $1 = ANY(target_ids))::int AS audits`,
    [sourceId],
  );
  expect(counts.rows[0]).toEqual({ records: 0, imports: 0, audits: 0 });
}

function expectRefused(answer: { status: number; body: any }, status: number, code: string, message?: RegExp): void {
  expect({ status: answer.status, code: answer.body?.errors?.[0]?.extensions?.code }).toEqual({ status, code });
  if (message) expect(answer.body.errors[0].message).toMatch(message);
}

const manyGood = (n: number) => Array.from({ length: n }, (_, i) => GOOD(i)).join('');

it.each([
  ['application/json', /Content-Type must be text\/csv or application\/x-ndjson/],
  ['text/plain', /Content-Type must be/],
  [null, /Content-Type must be/],
  ['text/csv; charset=latin1', /UTF-8/],
])('refuses the content type %s with 415', async (contentType, message) => {
  const source = await createSource(t, ledgerId);
  expectRefused(await httpImport(t, source.id, HEADER + GOOD(1), { contentType }), 415, 'BAD_USER_INPUT', message);
  await nothingChanged(source.id);
});

it('refuses a compressed body', async () => {
  const source = await createSource(t, ledgerId);
  const base = t.url.replace(/\/graphql$/, '');
  const response = await fetch(`${base}/reconciliation/sources/${source.id}/records`, {
    method: 'POST',
    headers: {
      authorization: `Bearer test-admin-key-0123456789abcdefghij`,
      'content-type': 'text/csv',
      'content-encoding': 'gzip',
      'idempotency-key': key(),
    },
    body: HEADER,
  });
  expect(response.status).toBe(415);
  await nothingChanged(source.id);
});

it('refuses a line beyond 65,536 characters after good rows, keeping none of them', async () => {
  const source = await createSource(t, ledgerId);
  const body = `${HEADER}${manyGood(100)}huge,PTS,1,CREDIT,2026-11-21T09:30:00Z,${'r'.repeat(70_000)},\n${GOOD(101)}`;
  expectRefused(await httpImport(t, source.id, body), 413, 'IMPORT_TOO_LARGE', /exceeds 65536 characters/);
  await nothingChanged(source.id);
});

it('refuses a 10 MB single quoted field, streamed, without reading it whole', async () => {
  const source = await createSource(t, ledgerId);
  const piece = Buffer.alloc(64 * 1024, 'x');
  async function* body() {
    yield Buffer.from(`${HEADER}${manyGood(10)}big,PTS,1,CREDIT,2026-11-21T09:30:00Z,"`);
    for (let sent = 0; sent < 10 * 1024 * 1024; sent += piece.length) yield piece;
    yield Buffer.from('",\n');
  }
  const answer = await httpImport(t, source.id, body());
  expectRefused(answer, 413, 'IMPORT_TOO_LARGE');
  expect(answer.body.errors[0].extensions).toMatchObject({ limit: 'lineChars', max: '65536' });
  await nothingChanged(source.id);
});

it('refuses NUL bytes anywhere in the body', async () => {
  const source = await createSource(t, ledgerId);
  const body = `${HEADER}${manyGood(50)}nul\u0000,PTS,1,CREDIT,2026-11-21T09:30:00Z,,\n`;
  expectRefused(await httpImport(t, source.id, body), 400, 'BAD_USER_INPUT', /NUL byte/);
  const ndjson = await httpImport(t, source.id, '{"externalId":"a\\u0000"}\n\u0000\n', {
    contentType: 'application/x-ndjson',
  });
  expectRefused(ndjson, 400, 'BAD_USER_INPUT', /NUL byte/);
  await nothingChanged(source.id);
});

it('refuses a body that is not UTF-8', async () => {
  const source = await createSource(t, ledgerId);
  const body = Buffer.concat([Buffer.from(HEADER + manyGood(5)), Buffer.from([0xc3, 0x28, 0x0a])]);
  expectRefused(await httpImport(t, source.id, body), 400, 'BAD_USER_INPUT', /not UTF-8/);
  await nothingChanged(source.id);
});

it.each([
  ['an unknown column', 'externalId,asset,amount,direction,occurredAt,colour\n', /unknown column "colour"/],
  ['missing columns', 'externalId,asset,amount\n', /missing direction, occurredAt/],
  ['a repeated column', 'externalId,asset,asset,amount,direction,occurredAt\n', /appears twice/],
  ['an empty body', '', /empty/],
  ['a data row as the header', GOOD(1), /unknown column/],
])('refuses a CSV header with %s', async (_what, header, message) => {
  const source = await createSource(t, ledgerId);
  expectRefused(await httpImport(t, source.id, header && header + GOOD(2)), 400, 'BAD_USER_INPUT', message);
  await nothingChanged(source.id);
});

it('requires the Idempotency-Key header, of at most 255 printable characters', async () => {
  const source = await createSource(t, ledgerId);
  expectRefused(
    await httpImport(t, source.id, HEADER + GOOD(1), { idempotencyKey: null }),
    400,
    'BAD_USER_INPUT',
    /Idempotency-Key header is required/,
  );
  expectRefused(
    await httpImport(t, source.id, HEADER + GOOD(1), { idempotencyKey: 'k'.repeat(256) }),
    400,
    'BAD_USER_INPUT',
  );
  await nothingChanged(source.id);
});

it('answers an unknown or malformed source with NOT_FOUND or BAD_USER_INPUT', async () => {
  expectRefused(await httpImport(t, randomUUID(), HEADER + GOOD(1)), 404, 'NOT_FOUND');
  expectRefused(await httpImport(t, 'not-a-source', HEADER + GOOD(1)), 400, 'BAD_USER_INPUT');
});

it("refuses another tenant's source with FORBIDDEN", async () => {
  const source = await createSource(t, ledgerId);
  expectRefused(await httpImport(t, source.id, HEADER + GOOD(1), { secret: otherTenantAdmin }), 403, 'FORBIDDEN');
  const viaGraphQL = await t.gql(
    'mutation($i: ImportExternalRecordsInput!) { importExternalRecords(input: $i) { inserted } }',
    {
      i: {
        sourceId: source.id,
        idempotencyKey: key(),
        records: [
          { externalId: 'x', asset: 'PTS', amount: '1', direction: 'CREDIT', occurredAt: '2026-11-21T09:30:00Z' },
        ],
      },
    },
    otherTenantAdmin,
  );
  expect(viaGraphQL.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
  await nothingChanged(source.id);
});

it('refuses missing and unknown credentials with 401', async () => {
  const source = await createSource(t, ledgerId);
  expectRefused(await httpImport(t, source.id, HEADER + GOOD(1), { secret: null }), 401, 'UNAUTHENTICATED');
  expectRefused(
    await httpImport(t, source.id, HEADER + GOOD(1), { secret: 'not-a-real-key-but-long-enough-0000000' }),
    401,
    'UNAUTHENTICATED',
  );
  await nothingChanged(source.id);
});

it('refuses a declared body beyond 256 MiB before reading it', async () => {
  const source = await createSource(t, ledgerId);
  const answer = await new Promise<{ status: number; body: any }>((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port: t.server.port,
        path: `/reconciliation/sources/${source.id}/records`,
        method: 'POST',
        headers: {
          authorization: 'Bearer test-admin-key-0123456789abcdefghij',
          'content-type': 'text/csv',
          'content-length': String(300 * 1024 * 1024),
          'idempotency-key': key(),
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    request.on('error', reject);
    request.write(HEADER);
  });
  expectRefused(answer, 413, 'IMPORT_TOO_LARGE');
  expect(answer.body.errors[0].extensions).toMatchObject({ limit: 'bodyBytes' });
  await nothingChanged(source.id);
});

it('keeps working after every refusal: a good import still lands', async () => {
  const source = await createSource(t, ledgerId);
  const answer = await httpImport(t, source.id, HEADER + manyGood(3));
  expect(answer.status).toBe(201);
  expect(answer.body).toMatchObject({ inserted: 3 });
});

it('rolls back an import whose client goes away mid-body', async () => {
  const source = await createSource(t, ledgerId);
  await new Promise<void>((resolve) => {
    const request = http.request({
      host: '127.0.0.1',
      port: t.server.port,
      path: `/reconciliation/sources/${source.id}/records`,
      method: 'POST',
      headers: {
        authorization: 'Bearer test-admin-key-0123456789abcdefghij',
        'content-type': 'text/csv',
        'content-length': String(10 * 1024 * 1024),
        'idempotency-key': key(),
      },
    });
    request.on('error', () => resolve());
    request.write(HEADER + manyGood(500), () => {
      setTimeout(() => {
        request.destroy();
        resolve();
      }, 200);
    });
  });
  // The server notices the close, rolls back and releases the connection.
  for (let tries = 0; tries < 50; tries += 1) {
    const busy = await t.db.pool.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    );
    if (busy.rows[0].n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await nothingChanged(source.id);
  const answer = await httpImport(t, source.id, HEADER + manyGood(2));
  expect(answer.body).toMatchObject({ inserted: 2 });
});

describe('imports at once', () => {
  it('takes 2 slow streamed imports at once and refuses one more with IMPORT_BUSY, changing nothing', async () => {
    const imports = t.server.services.reconciliationImports;
    const sources = await Promise.all([1, 2, 3].map(() => createSource(t, ledgerId)));
    const gates: Array<() => void> = [];
    // A slow client: the header row and one record, then nothing until the test lets it finish.
    const slowBody = (n: number) =>
      (async function* () {
        yield Buffer.from(HEADER + GOOD(n));
        await new Promise<void>((resolve) => gates.push(resolve));
        yield Buffer.from(GOOD(n + 100));
      })();
    const slow = [0, 1].map((n) => httpImport(t, sources[n]!.id, slowBody(n)));
    for (let i = 0; imports.streamingCount() < 2; i += 1) {
      if (i > 2_000) throw new Error('the two slow imports did not start');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const busy = await httpImport(t, sources[2]!.id, HEADER + GOOD(7));
    expect(busy.status).toBe(503);
    expect(busy.body.errors[0].extensions).toMatchObject({ code: 'IMPORT_BUSY', retryable: true, max: '2' });
    await nothingChanged(sources[2]!.id);
    while (gates.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    for (const open of gates) open();
    for (const answer of await Promise.all(slow)) expect(answer).toMatchObject({ status: 201, body: { inserted: 2 } });
    expect(imports.streamingCount()).toBe(0);
    expect(await httpImport(t, sources[2]!.id, HEADER + GOOD(7))).toMatchObject({ status: 201, body: { inserted: 1 } });
  });
});
