import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ok, startTestServer, type TestServer } from './support/server';

/**
 * The README's walk-through, run verbatim: every `<!-- readme-step -->` marker is followed by a graphql
 * block and a json block of variables. `capture name=path` remembers a value for later `$name`
 * placeholders; `expect path=value` checks one figure of the answer.
 */
interface Step {
  directive: string;
  query: string;
  variables: Record<string, unknown>;
}

function readSteps(): Step[] {
  const readme = readFileSync(path.resolve(__dirname, '../README.md'), 'utf8');
  const pattern = /<!-- readme-step:?([^>]*)-->\s*```graphql\n([\s\S]*?)```\s*```json\n([\s\S]*?)```/g;
  return [...readme.matchAll(pattern)].map((match) => ({
    directive: match[1]!.trim(),
    query: match[2]!,
    variables: JSON.parse(match[3]!),
  }));
}

function at(data: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<any>((value, key) => value?.[key], data);
}

function substitute(value: unknown, captured: Map<string, unknown>): unknown {
  if (typeof value === 'string' && value.startsWith('$')) {
    if (!captured.has(value.slice(1))) throw new Error(`README uses ${value} before any step captures it`);
    return captured.get(value.slice(1));
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, captured));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substitute(item, captured)]));
  return value;
}

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

it('runs the README loyalty walk-through exactly as printed', async () => {
  const steps = readSteps();
  expect(steps.length).toBe(17);
  const captured = new Map<string, unknown>();
  for (const step of steps) {
    const data = ok(await t.gql(step.query, substitute(step.variables, captured) as Record<string, unknown>));
    const [verb, assignment] = step.directive.split(/\s+/, 2);
    if (verb === 'capture' || verb === 'expect') {
      const [name, value] = assignment!.split('=');
      if (verb === 'capture') captured.set(name!, at(data, value!));
      else expect([step.query.split('\n')[0], String(at(data, name!))]).toEqual([step.query.split('\n')[0], value]);
    }
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
});
