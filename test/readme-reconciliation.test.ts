import { readFileSync } from 'node:fs';
import path from 'node:path';
import { at, operationLine, readmeSteps, substitute } from '../src/scripts/readme-steps';
import { ADMIN_KEY, ok, startTestServer, type TestServer } from './support/server';

/** The README's "Reconcile with a partner" (its `recon-step` blocks), run verbatim. */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

it('runs the README reconciliation walk-through exactly as printed', async () => {
  const readme = readFileSync(path.resolve(__dirname, '../README.md'), 'utf8');
  const steps = readmeSteps(readme, 'recon-step');
  expect(steps.length).toBe(16);
  const captured = new Map<string, unknown>();
  for (const step of steps) {
    const data = ok(await t.gql(step.query, substitute(step.variables, captured) as Record<string, unknown>));
    const { directive } = step;
    if (directive?.verb === 'capture') captured.set(directive.name, at(data, directive.path));
    if (directive?.verb === 'expect')
      expect([operationLine(step), String(at(data, directive.path))]).toEqual([operationLine(step), directive.value]);
  }

  // What the walk-through says along the way: the close's summary, and what a later run finds.
  const run = ok(
    await t.gql(
      'query($id: ID!) { reconciliationRun(id: $id) { summary { matched amountMismatch missingInLedger missingExternally } } }',
      {
        id: captured.get('runId'),
      },
    ),
  ).reconciliationRun;
  expect(run.summary).toEqual({ matched: 1, amountMismatch: 1, missingInLedger: 1, missingExternally: 1 });
  const later = ok(
    await t.gql(
      `mutation($s: ID!) { runReconciliation(input: { sourceId: $s, mode: COMMIT, from: "2026-11-21T00:00:00Z",
         to: "2026-11-21T23:59:59Z", idempotencyKey: "close-2026-11-21-again" }) { summary { matched missingInLedger missingExternally amountMismatch } } }`,
      { s: captured.get('sourceId') },
    ),
  ).runReconciliation;
  expect(later.summary).toEqual({ matched: 2, missingInLedger: 1, missingExternally: 0, amountMismatch: 0 });

  // Step 11's report, as the finance team gets it.
  expect(readme).toContain('/reconciliation/runs/$RUN_ID/report.csv');
  const response = await fetch(
    `${t.url.replace(/\/graphql$/, '')}/reconciliation/runs/${captured.get('runId')}/report.csv`,
    {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    },
  );
  const lines = (await response.text()).trim().split('\r\n');
  expect(response.status).toBe(200);
  expect(lines).toHaveLength(5);
  expect(lines.slice(1).map((line) => line.split(',')[1])).toEqual([
    'AMOUNT_MISMATCH',
    'MISSING_IN_LEDGER',
    'MISSING_EXTERNALLY',
    'MATCHED',
  ]);
});
