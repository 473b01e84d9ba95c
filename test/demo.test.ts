import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ADMIN_KEY, startTestServer, type TestServer } from './support/server';

/** `npm run demo`: the README walk-through against a running server, printing requests and answers. */
const DEMO = path.resolve(__dirname, '../dist/scripts/demo.js');
const run = promisify(execFile);

let t: TestServer;
beforeAll(async () => {
  if (!existsSync(DEMO)) throw new Error('dist/scripts/demo.js is missing: run npm run build first');
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

it('runs every README step against the server, printing each request and answer, and runs again', async () => {
  for (let round = 0; round < 2; round += 1) {
    const { stdout } = await run(process.execPath, [DEMO], {
      env: { ...process.env, LEDGER_URL: t.url, ADMIN_API_KEY: ADMIN_KEY },
    });
    expect(stdout).toContain(`against ${t.url}`);
    expect(stdout).toMatch(
      /\[1\/37\] mutation CreateProgram\(\$input: CreateLedgerInput!\)\n> \{"input":\{"code":"coffee-club-/,
    );
    expect(stdout).toMatch(/\[4\/37\] mutation EarnPoints[^\n]*\n> [^\n]*"amount":"500"[^\n]*\n< \{"data":\{"issue":/);
    expect(stdout).toContain('  ✓ account.balance.available = 500');
    expect(stdout).toContain('  ✓ ledgerIntegrity.ok = true');
    expect(stdout).toMatch(/Done: 37 steps, every figure as the README states\.\n$/);
  }
});

it('says what to do without ADMIN_API_KEY, or when no server answers', async () => {
  const { ADMIN_API_KEY: _unset, ...withoutKey } = process.env;
  const missing = await run(process.execPath, [DEMO], { env: { ...withoutKey, LEDGER_URL: t.url } }).catch(
    (error: { code: number; stderr: string }) => error,
  );
  expect(missing).toMatchObject({ code: 1, stderr: expect.stringContaining('export line `npm start` prints') });
  const nobody = await run(process.execPath, [DEMO], {
    env: { ...process.env, LEDGER_URL: 'http://127.0.0.1:9/graphql', ADMIN_API_KEY: ADMIN_KEY },
  }).catch((error: { code: number; stderr: string }) => error);
  expect(nobody).toMatchObject({ code: 1, stderr: expect.stringContaining('is npm start running?') });
});
