import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { codegen } from '@graphql-codegen/core';
import * as typescriptPlugin from '@graphql-codegen/typescript';
import * as operationsPlugin from '@graphql-codegen/typescript-operations';
import { parse, type DocumentNode } from 'graphql';
import { buildLedgerSchema, printLedgerSchema } from '../src/schema';

/**
 * GraphQL Code Generator as a client team runs it, with docs/codegen.ts's own configuration: every
 * operation the README shows gets types with no `unknown` scalar, and strict TypeScript accepts code
 * that uses them the way the README describes (and refuses code that gets the scalars wrong).
 */
const root = path.resolve(__dirname, '..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');

interface OutputConfig {
  plugins: string[];
  config: Record<string, unknown>;
}

/** docs/codegen.ts evaluated as written (its one import is a type, its `satisfies` a type annotation). */
function documentedOutputs(): Record<string, OutputConfig> {
  const source = readFileSync(path.join(root, 'docs/codegen.ts'), 'utf8');
  const body = source
    .replace(/^import type .*$/m, '')
    .replace(/^export default /m, 'return ')
    .replace(/\} satisfies CodegenConfig;\s*$/, '};');
  return (
    new Function('process', body)({ env: { LEDGER_API_KEY: 'x' } }) as { generates: Record<string, OutputConfig> }
  ).generates;
}

/** Every operation in the README: its graphql blocks, and the documents inside its JavaScript examples. */
function readmeDocuments(): DocumentNode[] {
  const graphqlBlocks = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((match) => match[1]!);
  const embedded = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].flatMap((match) =>
    [...match[1]!.matchAll(/`((?:query|subscription|mutation) [\s\S]*?)`/g)].map((inner) => inner[1]!),
  );
  return [...graphqlBlocks, ...embedded].map((text) => parse(text));
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ledger-codegen-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

it("generates types for the README's operations with strictScalars, which strict TypeScript accepts", async () => {
  const outputs = documentedOutputs();
  expect(Object.keys(outputs)).toEqual(['src/generated/ledger.ts', 'src/generated/ledger-enums.ts']);
  const schema = await buildLedgerSchema();
  const documents = readmeDocuments();
  expect(documents.length).toBeGreaterThanOrEqual(20);
  for (const [file, { plugins, config }] of Object.entries(outputs)) {
    const output = await codegen({
      filename: path.basename(file),
      schema: parse(printLedgerSchema(schema)),
      schemaAst: schema,
      documents: documents.map((document, index) => ({ document, location: `README.md#${index}` })),
      plugins: plugins.map((name) => ({ [name]: {} })),
      pluginMap: { typescript: typescriptPlugin, 'typescript-operations': operationsPlugin },
      config,
    });
    // No scalar left untyped (unknown or any); Record<string, unknown> is JSONObject's documented type.
    expect(output).not.toMatch(/(?:input|output|[a-z]): (?:unknown|any)\b/);
    writeFileSync(path.join(dir, path.basename(file)), output);
  }
  expect(readFileSync(path.join(dir, 'ledger-enums.ts'), 'utf8')).toContain('export type ErrorCode =');

  // Code as the README has clients write it: amounts are strings (BigInt, never Number), errors switch on codes.
  writeFileSync(
    path.join(dir, 'app.ts'),
    `import type { BalanceQuery, EarnPointsMutation, EarnPointsMutationVariables, LiveBalanceSubscription } from './ledger';
import type { ErrorCode } from './ledger-enums';

export function points(result: BalanceQuery): bigint {
  const balance = result.account?.balance;
  return balance === undefined ? 0n : BigInt(balance.available);
}

export const earn: EarnPointsMutationVariables = {
  input: { accountId: 'a', asset: 'PTS', amount: '500', idempotencyKey: 'order-1', metadata: { orderId: '1' } },
};
export const earnAsNumber: EarnPointsMutationVariables = { input: { ...earn.input, amount: 500 } };

export function firstAmount(result: EarnPointsMutation): string {
  return result.issue.transaction.entries[0]!.amount;
}

export function live(event: LiveBalanceSubscription): number {
  return event.balanceUpdated.version;
}

export function retryable(code: ErrorCode): boolean {
  switch (code) {
    case 'CONFLICT':
    case 'RATE_LIMITED':
      return true;
    default:
      return false;
  }
}
`,
  );
  // The same code with the scalars misused must not compile: that is what strictScalars buys.
  writeFileSync(
    path.join(dir, 'wrong.ts'),
    `import type { BalanceQuery } from './ledger';
import type { ErrorCode } from './ledger-enums';
export const n: number | undefined = ({} as BalanceQuery).account?.balance.available;
export const code: ErrorCode = 'NO_SUCH_CODE';
`,
  );
  const tsc = path.join(root, 'node_modules/.bin/tsc');
  const options = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--types', ''];
  const run = promisify(execFile);
  await run(tsc, [...options, 'ledger.ts', 'ledger-enums.ts', 'app.ts'], { cwd: dir });
  const wrong = await run(tsc, [...options, 'ledger.ts', 'ledger-enums.ts', 'wrong.ts'], { cwd: dir }).then(
    () => '',
    (error: { stdout: string }) => error.stdout,
  );
  expect(wrong).toMatch(/wrong\.ts\(3,14\): error TS2322/);
  expect(wrong).toMatch(/wrong\.ts\(4,14\): error TS2322/);
}, 120_000);
