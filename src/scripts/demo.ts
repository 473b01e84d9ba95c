import { readFileSync } from 'node:fs';
import path from 'node:path';
import { at, operationLine, readmeSteps, substitute } from './readme-steps.js';

/**
 * `npm run demo`: runs the README's loyalty walk-through against a running server (`npm start` in another
 * terminal), printing each request and its answer, and checking the figures the README states. Each run
 * creates its own program: the README's ledger code gets a suffix, as root ledger codes are unique.
 *   LEDGER_URL     the GraphQL endpoint (default http://localhost:4000/graphql)
 *   ADMIN_API_KEY  the admin secret `npm start` prints (`export ADMIN_API_KEY=…`)
 * Exits 1 at the first step that fails, having printed its answer.
 */
const README = path.resolve(__dirname, '../../README.md');

async function run(): Promise<number> {
  const url = process.env.LEDGER_URL ?? 'http://localhost:4000/graphql';
  const secret = process.env.ADMIN_API_KEY;
  if (secret === undefined || secret === '') {
    process.stderr.write('ADMIN_API_KEY is not set: run the export line `npm start` prints, then npm run demo\n');
    return 1;
  }
  const runId = Date.now().toString(36);
  const steps = readmeSteps(readFileSync(README, 'utf8'));
  const captured = new Map<string, unknown>();
  process.stdout.write(`Running the README walk-through (${steps.length} steps) against ${url}\n`);

  for (const [index, step] of steps.entries()) {
    const variables = substitute(step.variables, captured) as Record<string, unknown>;
    // A second run must not collide with the first one's root ledger.
    const input = variables.input as Record<string, unknown> | undefined;
    if (/\bcreateLedger\(/.test(step.query) && typeof input?.code === 'string')
      variables.input = { ...input, code: `${input.code}-${runId}` };

    process.stdout.write(`\n[${index + 1}/${steps.length}] ${operationLine(step)}\n`);
    process.stdout.write(`> ${JSON.stringify(variables)}\n`);
    let body: { data?: unknown; errors?: unknown[] };
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
        body: JSON.stringify({ query: step.query, variables }),
      });
      body = (await response.json()) as typeof body;
    } catch (error) {
      process.stderr.write(`cannot reach ${url} (${(error as Error).message}): is npm start running?\n`);
      return 1;
    }
    process.stdout.write(`< ${JSON.stringify(body)}\n`);
    if (body.errors?.length || body.data == null) {
      process.stderr.write(`step ${index + 1} failed\n`);
      return 1;
    }
    const { directive } = step;
    if (directive?.verb === 'capture') captured.set(directive.name, at(body.data, directive.path));
    if (directive?.verb === 'expect') {
      const actual = String(at(body.data, directive.path));
      if (actual !== directive.value) {
        process.stderr.write(`step ${index + 1}: expected ${directive.path} = ${directive.value}, got ${actual}\n`);
        return 1;
      }
      process.stdout.write(`  ✓ ${directive.path} = ${actual}\n`);
    }
  }
  process.stdout.write(`\nDone: ${steps.length} steps, every figure as the README states.\n`);
  return 0;
}

run().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
