import { readFileSync } from 'node:fs';
import path from 'node:path';
import { at, operationLine, readmeSteps, substitute } from '../src/scripts/readme-steps';
import { ok, startTestServer, type TestServer } from './support/server';

/** The README's walk-through (src/scripts/readme-steps.ts), run verbatim. */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

it('runs the README loyalty walk-through exactly as printed', async () => {
  const steps = readmeSteps(readFileSync(path.resolve(__dirname, '../README.md'), 'utf8'));
  expect(steps.length).toBe(37);
  const captured = new Map<string, unknown>();
  for (const step of steps) {
    const data = ok(await t.gql(step.query, substitute(step.variables, captured) as Record<string, unknown>));
    const { directive } = step;
    if (directive?.verb === 'capture') captured.set(directive.name, at(data, directive.path));
    if (directive?.verb === 'expect')
      expect([operationLine(step), String(at(data, directive.path))]).toEqual([operationLine(step), directive.value]);
  }

  // What the README promises after the last steps.
  const member = ok(
    await t.gql(
      `query($id: ID!) { account(id: $id) { balance(asset: "STARS") { posted } lots(asset: "STARS") { remaining } } }`,
      { id: captured.get('memberId') },
    ),
  );
  expect(member.account).toEqual({ balance: { posted: '50' }, lots: [{ remaining: '50' }] });
  const after = ok(
    await t.gql(
      `query($id: ID!) { account(id: $id) { balance(asset: "PTS") { available } entries { edges { node { amount } } } } }`,
      { id: captured.get('accountId') },
    ),
  );
  expect(after.account.balance.available).toBe('500');
  expect(after.account.entries.edges).toHaveLength(3);
  const saver = ok(
    await t.gql(
      `query($id: ID!) { account(id: $id) { points: balance(asset: "PTS") { available } cashback: balance(asset: "CASHBACK") { available } } }`,
      { id: captured.get('saverId') },
    ),
  );
  expect(saver.account).toEqual({ points: { available: '300' }, cashback: { available: '133' } });
  const card = captured.get('card') as { code: string; pin: string; card: { last4: string } };
  expect(card.code.slice(-4)).toBe(card.card.last4);

  // Caps and clawback: the refund's debt repaid by the next earn, and the earn cap given back by the refund.
  const guest = ok(
    await t.gql(
      `query($id: ID!) { account(id: $id) { balance(asset: "PTS") { posted debt } limits { limit { kind } used remaining } } }`,
      { id: captured.get('guestId') },
    ),
  );
  expect(guest.account).toEqual({
    balance: { posted: '100', debt: '0' },
    limits: [
      { limit: { kind: 'EARN_PER_PERIOD' }, used: '700', remaining: '300' },
      { limit: { kind: 'MAX_BALANCE' }, used: '100', remaining: '4900' },
    ],
  });
});
