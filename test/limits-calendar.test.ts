import { CALENDAR_PERIODS, periodBounds } from '../src/platform/calendar.core';
import { startTestServer, type TestServer } from './support/server';

/**
 * The posting functions count limits in periods computed by SQL (limit_period_start and limit_period_end,
 * migration 20261206010000); Account.limits and expiry policies compute them in calendar.core.ts. The two must
 * name the same instants, in zones with clock changes at midnight, far from UTC, and with a skipped day.
 */

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const ZONES = [
  'UTC',
  'America/New_York',
  'Pacific/Kiritimati',
  'Asia/Manila',
  'America/Sao_Paulo',
  'America/Havana',
  'Australia/Lord_Howe',
  'Pacific/Apia',
  'Asia/Kathmandu',
  'Europe/London',
];

/** Instants around the year, and each TS boundary itself and a millisecond before it. */
function instants(zone: string): Date[] {
  const seeds: Date[] = [];
  for (const year of [2011, 2018, 2026]) {
    for (let day = 0; day < 366; day += 9) seeds.push(new Date(Date.UTC(year, 0, 1 + day, (day * 7) % 24, 13)));
  }
  // Pacific/Apia skipped 30 December 2011; Sao Paulo's clocks went forward at midnight in November 2018.
  seeds.push(new Date('2011-12-29T10:00:00Z'), new Date('2011-12-31T10:00:00Z'), new Date('2018-11-04T03:30:00Z'));
  const out: Date[] = [];
  for (const seed of seeds) {
    out.push(seed);
    for (const period of CALENDAR_PERIODS) {
      const { start, end } = periodBounds(seed, period, zone);
      out.push(start, new Date(start.getTime() - 1), end, new Date(end.getTime() - 1));
    }
  }
  return out;
}

it('puts every instant in the same calendar period in SQL as in calendar.core.ts', async () => {
  let compared = 0;
  for (const zone of ZONES) {
    const points = instants(zone);
    for (const period of CALENDAR_PERIODS) {
      const { rows } = await t.db.pool.query<{ at: Date; start: Date; end: Date }>(
        `SELECT at, limit_period_start($1, $2, at) AS start, limit_period_end($1, $2, at) AS "end"
           FROM unnest($3::timestamptz[]) AS at`,
        [period, zone, points],
      );
      const disagreements = rows
        .map((row) => ({ at: row.at, sql: { start: row.start, end: row.end }, ts: periodBounds(row.at, period, zone) }))
        .filter(({ sql, ts }) => sql.start.getTime() !== ts.start.getTime() || sql.end.getTime() !== ts.end.getTime())
        .map(
          ({ at, sql, ts }) =>
            `${zone} ${period} ${at.toISOString()}: SQL ${sql.start.toISOString()}..${sql.end.toISOString()}, TS ${ts.start.toISOString()}..${ts.end.toISOString()}`,
        );
      expect(disagreements).toEqual([]);
      compared += rows.length;
    }
  }
  expect(compared).toBeGreaterThan(10_000);
});
