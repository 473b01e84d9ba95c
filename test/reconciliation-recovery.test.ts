import pg from 'pg';
import { key } from './support/builders';
import { startServerProcess } from './support/process';
import { httpImport } from './support/reconciliation';
import { createPartner, RUN, RUN_FIELDS } from './support/reconciliation-runs';
import { ADMIN_KEY, errorCode, ok, startTestServer, type TestServer } from './support/server';

/**
 * A reconciliation run outlives the process that started it: a run whose server is killed mid-work is
 * resumed by the next request with its key, and a run that is alive is never resumed twice.
 */
const RECORDS = 60_000;
const WINDOW = { from: '2026-11-01T00:00:00Z', to: '2026-11-30T23:59:59Z' };

let t: TestServer;
let db: pg.Pool;

beforeAll(async () => {
  t = await startTestServer();
  db = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
});
afterAll(async () => {
  await db.end();
  await t.stop();
});

/** A source with RECORDS partner records and no ledger side, so that a run writes as many exceptions. */
async function busySource(): Promise<string> {
  const partner = await createPartner(t);
  const lines = ['externalId,asset,amount,direction,occurredAt,reference,accountCode'];
  for (let i = 0; i < RECORDS; i += 1)
    lines.push(
      `r${i},PTS,${(i % 90) + 10},CREDIT,2026-11-${String((i % 28) + 1).padStart(2, '0')}T10:00:00Z,ref-${i},`,
    );
  const imported = await httpImport(t, partner.sourceId, lines.join('\n') + '\n');
  expect(imported).toMatchObject({ status: 201, body: { inserted: RECORDS, rejectedCount: 0 } });
  return partner.sourceId;
}

async function runStatus(sourceId: string, idempotencyKey: string): Promise<string | null> {
  const { rows } = await db.query<{ status: string }>(
    'SELECT status FROM reconciliation_runs WHERE source_id = $1 AND idempotency_key = $2',
    [sourceId, idempotencyKey],
  );
  return rows[0]?.status ?? null;
}

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

it('resumes a run whose server was killed mid-run, with the same id and the full result', async () => {
  const sourceId = await busySource();
  const runKey = key('run');
  const input = { sourceId, mode: 'COMMIT', ...WINDOW, idempotencyKey: runKey };
  const doomed = await startServerProcess({
    DATABASE_URL: t.databaseUrl,
    ADMIN_API_KEY: ADMIN_KEY,
    SCHEDULER_INTERVAL_SECONDS: '0',
  });
  try {
    const answer = fetch(doomed.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ query: RUN, variables: { i: input } }),
    }).catch((error: unknown) => error);
    await waitFor('the run to start', async () => (await runStatus(sourceId, runKey)) === 'RUNNING');
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    // The request died with its server: fetch fails, no answer came back.
    expect(String(await answer)).toMatch(/fetch failed/);
  } finally {
    await doomed.stop();
  }
  // The killed server's session ends once Postgres notices; its transaction rolls back with it.
  const database = new URL(t.databaseUrl).pathname.slice(1);
  await waitFor('the killed server to leave the database', async () => {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = $1 AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%rr_%'`,
      [database],
    );
    return rows[0]!.n === 0;
  });
  expect(await runStatus(sourceId, runKey)).toBe('RUNNING');
  const { rows: before } = await db.query(
    'SELECT count(*)::int AS n FROM reconciliation_exceptions WHERE source_id = $1',
    [sourceId],
  );
  expect(before[0].n).toBe(0);

  const resumed = ok(await t.gql(RUN, { i: input })).runReconciliation;
  expect(resumed).toMatchObject({
    status: 'COMPLETED',
    summary: { externalRecords: RECORDS, missingInLedger: RECORDS, matched: 0 },
  });
  const { rows: runs } = await db.query('SELECT id FROM reconciliation_runs WHERE source_id = $1', [sourceId]);
  expect(runs).toEqual([{ id: resumed.id }]);
  const { rows: after } = await db.query('SELECT count(*)::int AS n FROM reconciliation_exceptions WHERE run_id = $1', [
    resumed.id,
  ]);
  expect(after[0].n).toBe(RECORDS);
  // The key now answers the finished run, as any replay does.
  expect(ok(await t.gql(RUN, { i: input })).runReconciliation).toEqual(resumed);
});

it('answers RUNNING to a retry while the run is alive, and never works it twice', async () => {
  const sourceId = await busySource();
  const runKey = key('run');
  const input = { sourceId, mode: 'DRY_RUN', ...WINDOW, idempotencyKey: runKey };
  const first = t.gql(RUN, { i: input });
  await waitFor('the run to start', async () => (await runStatus(sourceId, runKey)) === 'RUNNING');
  const retries = await Promise.all([1, 2, 3].map(() => t.gql(RUN, { i: input })));
  const runningIds = new Set<string>();
  for (const retry of retries) {
    const run = ok(retry).runReconciliation;
    if (run.status === 'RUNNING') runningIds.add(run.id);
    else expect(run.status).toBe('COMPLETED');
  }
  // Another window under the same key is a different request.
  expect(errorCode(await t.gql(RUN, { i: { ...input, to: '2026-11-29T00:00:00Z' } }))).toBe('IDEMPOTENCY_CONFLICT');
  const finished = ok(await first).runReconciliation;
  expect(finished.status).toBe('COMPLETED');
  expect([...runningIds].every((id) => id === finished.id)).toBe(true);
  const { rows } = await db.query('SELECT count(*)::int AS n FROM reconciliation_exceptions WHERE source_id = $1', [
    sourceId,
  ]);
  expect(rows[0].n).toBe(RECORDS);
  const read = ok(await t.gql(`query($id: ID!) { reconciliationRun(id: $id) { ${RUN_FIELDS} } }`, { id: finished.id }));
  expect(read.reconciliationRun).toEqual(finished);
});
