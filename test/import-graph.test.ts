import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The import-graph check CI runs (.ci/check-cycles.js), on small trees made for each rule. */
const SCRIPT = path.resolve(__dirname, '../.ci/check-cycles.js');
let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'rl-graph-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), text);
  }
  return root;
}

function check(dir: string): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, [SCRIPT, dir], { encoding: 'utf8' });
  return { status: run.status, output: run.stdout + run.stderr };
}

describe('the import-graph check', () => {
  it('passes a graph that points one way, with resolvers naming each other across modules', () => {
    const dir = tree({
      'platform/db.ts': 'export const db = 1;\n',
      'ledgers/ledger.service.ts': "import { db } from '../platform/db.js';\nexport const ledgers = db;\n",
      'accounts/account.service.ts': "import { ledgers } from '../ledgers/ledger.service.js';\nexport const accounts = ledgers;\n",
      'ledgers/ledger.resolver.ts': "import type { accounts } from '../accounts/account.service.js';\nexport type A = typeof accounts;\n",
      'accounts/account.resolver.ts': "import type { A } from '../ledgers/ledger.resolver.js';\nexport type B = A;\n",
    });
    expect(check(dir)).toEqual({ status: 0, output: expect.stringContaining('no cycle') });
  });

  it('fails on a module cycle below the GraphQL edge, even through type-only imports, naming the imports', () => {
    const dir = tree({
      'ledgers/ledger.service.ts': "import type { Account } from '../accounts/account.types.js';\nexport type L = Account;\n",
      'accounts/account.types.ts': "export interface Account { id: string }\n",
      'accounts/account.service.ts': "import type { L } from '../ledgers/ledger.service.js';\nexport type S = L;\n",
    });
    const { status, output } = check(dir);
    expect(status).toBe(1);
    expect(output).toContain('module cycle: accounts, ledgers');
    expect(output).toContain('src/ledgers/ledger.service.ts:1 imports src/accounts/account.types.ts');
  });

  it('fails on a file cycle, a service importing a resolver, and platform importing a domain module', () => {
    const dir = tree({
      'context.ts': "import type { S } from './subscriptions/subscription.service.js';\nexport type C = S;\n",
      'subscriptions/subscription.service.ts': "import type { C } from '../context.js';\nexport type S = C;\n",
      'platform/errors.ts': "import type { S } from '../subscriptions/subscription.service.js';\nexport type E = S;\n",
    });
    const { status, output } = check(dir);
    expect(status).toBe(1);
    expect(output).toContain('file cycle: src/context.ts -> src/subscriptions/subscription.service.ts -> src/context.ts');
    expect(output).toContain('src/subscriptions/subscription.service.ts:1 imports src/context.ts, which is above it');
    expect(output).toContain('platform imports no domain module');
  });
});
