import { buildChaosWorld, runChaos, verifyChaos } from './support/chaos';
import { ADMIN_KEY, startTestServer, type TestServer } from './support/server';

/**
 * 64 concurrent clients drive random issue / redeem / transfer / hold / post / void / reverse / batch
 * operations through the real HTTP server. Short in CI; `npm run test:chaos` runs it for 10 minutes
 * (CHAOS_SECONDS) instead of a fixed count (CHAOS_OPERATIONS).
 */
const SECONDS = Number(process.env.CHAOS_SECONDS ?? 0);
const OPERATIONS = SECONDS > 0 ? Number.MAX_SAFE_INTEGER : Number(process.env.CHAOS_OPERATIONS ?? 1000);

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

it(
  'keeps every invariant and every acknowledgement under 64 concurrent random clients',
  async () => {
    const target = { url: t.url, secret: ADMIN_KEY };
    const world = await buildChaosWorld(target);
    const report = await runChaos(target, world, {
      concurrency: 64,
      operations: OPERATIONS,
      deadline: SECONDS > 0 ? Date.now() + SECONDS * 1000 : undefined,
      db: t.db.pool,
    });
    const verdict = await verifyChaos(t.db.pool, target, world, report.attempts);
    if (process.env.CHAOS_REPORT)
      process.stdout.write(
        JSON.stringify(
          {
            operations: report.operations,
            attempts: report.attempts.length,
            checks: verdict.checks,
            byOutcome: report.byOutcome,
          },
          null,
          1,
        ) + '\n',
      );

    expect(verdict.problems).toEqual([]);
    expect(report.minAvailableSeen).toBeGreaterThanOrEqual(0n);
    const acknowledged = report.attempts.filter((attempt) => attempt.outcome === 'acknowledged').length;
    const refused = report.attempts.filter((attempt) => attempt.outcome === 'rejected').length;
    expect(acknowledged).toBeGreaterThan(report.operations / 4);
    expect(refused).toBeGreaterThan(0);
    expect(report.attempts.filter((attempt) => attempt.outcome === 'unknown')).toEqual([]);
  },
  Math.max(SECONDS * 1000 * 2, 300_000),
);
