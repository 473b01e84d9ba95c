import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createAsset, createLedger, key } from './support/builders';
import { createSource } from './support/reconciliation';
import { ADMIN_KEY, startTestServer, type TestServer } from './support/server';

/**
 * The long configuration (`npm run test:long`, also run by `npm run test:chaos`; not part of `npm test`):
 * a 1,000,000-row CSV with bad rows sprinkled in, written to this test's scratch folder and streamed to
 * the HTTP import. Every good row must be kept, every bad one counted, and the first 1,000 reported by
 * line and externalId.
 */
const ROWS = 1_000_000;
const HEADER = 'externalId,asset,amount,direction,occurredAt,reference,accountCode\n';
// One bad row in every 613 (and a repeated externalId in every 1,009), each spoiled a different way.
const SPOILERS: Array<(i: number) => string> = [
  (i) => `bad-${i},PTS,+5,CREDIT,2026-11-21T09:30:00Z,,\n`,
  (i) => `bad-${i},NOPE,5,CREDIT,2026-11-21T09:30:00Z,,\n`,
  (i) => `bad-${i},PTS,5,CREDIT,2026-13-01T00:00:00Z,,\n`,
  (i) => `bad-${i},PTS,5,CREDIT\n`,
  (i) => `bad-${i},PTS,0,DEBIT,2026-11-21T09:30:00Z,,\n`,
  (i) => `bad-${i},PTS,5,UP,2026-11-21T09:30:00Z,,\n`,
  (i) => `bad-${i},PTS,99999999999999999999,CREDIT,2026-11-21T09:30:00Z,,\n`,
];

let t: TestServer;
let dir: string;

beforeAll(async () => {
  t = await startTestServer();
  dir = await mkdtemp(path.join(os.tmpdir(), 'rl-import-million-'));
});
afterAll(async () => {
  await t.stop();
  await rm(dir, { recursive: true, force: true });
});

it('imports 1,000,000 CSV rows, keeping every good one and reporting every bad one by line', async () => {
  const ledgerId = (await createLedger(t)).id;
  await createAsset(t, ledgerId, 'PTS');
  const source = await createSource(t, ledgerId);
  const file = path.join(dir, 'records.csv');
  const out = createWriteStream(file);
  out.write(HEADER);
  const bad: Array<{ line: number; externalId: string | null }> = [];
  let good = 0;
  let lastGood = 0;
  let goodSum = 0n;
  let text = '';
  for (let i = 0; i < ROWS; i += 1) {
    const line = i + 2;
    if (i % 613 === 612) {
      text += SPOILERS[((i / 613) | 0) % SPOILERS.length]!(i);
      bad.push({ line, externalId: `bad-${i}` });
    } else if (i % 1009 === 1008) {
      // The externalId of the last good row, again: a body states each record once.
      text += `good-${lastGood},PTS,7,CREDIT,2026-11-21T09:30:00Z,,\n`;
      bad.push({ line, externalId: `good-${lastGood}` });
    } else {
      const amount = 1 + (i % 10_000);
      text += `good-${i},PTS,${amount},${i % 2 ? 'DEBIT' : 'CREDIT'},2026-11-21T09:30:00.${String(i % 1000).padStart(3, '0')}Z,"ref, ${i}",acct-${i % 97}\n`;
      good += 1;
      lastGood = i;
      goodSum += BigInt(amount);
    }
    if (text.length > 1 << 20) {
      if (!out.write(text)) await once(out, 'drain');
      text = '';
    }
  }
  out.end(text);
  await once(out, 'finish');
  const size = (await stat(file)).size;

  const base = t.url.replace(/\/graphql$/, '');
  const response = await fetch(`${base}/reconciliation/sources/${source.id}/records`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${ADMIN_KEY}`,
      'content-type': 'text/csv',
      'content-length': String(size),
      'idempotency-key': key('million'),
    },
    body: Readable.toWeb(createReadStream(file)) as unknown as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  const result = (await response.json()) as any;
  expect(response.status).toBe(201);
  expect({ inserted: result.inserted, updated: result.updated, unchanged: result.unchanged }).toEqual({
    inserted: good,
    updated: 0,
    unchanged: 0,
  });
  expect(result.rejectedCount).toBe(bad.length);
  expect(bad.length).toBeGreaterThan(1_000);
  expect(result.rejected.map((r: any) => ({ line: r.line, externalId: r.externalId }))).toEqual(bad.slice(0, 1_000));

  const stored = await t.db.pool.query(
    `SELECT count(*)::int AS n, sum(amount)::text AS total, count(*) FILTER (WHERE external_id LIKE 'bad-%')::int AS bad
       FROM reconciliation_records WHERE source_id = $1`,
    [source.id],
  );
  expect(stored.rows[0]).toEqual({ n: good, total: goodSum.toString(), bad: 0 });
  const importRow = await t.db.pool.query(
    'SELECT rejected_count, jsonb_array_length(rejections) AS kept FROM reconciliation_imports WHERE id = $1',
    [result.id],
  );
  expect(importRow.rows[0]).toEqual({ rejected_count: bad.length, kept: 1_000 });
}, 900_000);
