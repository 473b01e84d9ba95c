import { canonicalTimeZone, periodBoundary, periodBounds } from './calendar.core';

const at = (iso: string) => new Date(iso);

describe('calendar periods in a time zone', () => {
  it('ends "2026, Manila time" at midnight of 1 January 2027 in Manila', () => {
    expect(periodBounds(at('2026-06-15T12:00:00Z'), 'YEAR', 'Asia/Manila')).toEqual({
      start: at('2025-12-31T16:00:00Z'),
      end: at('2026-12-31T16:00:00Z'),
    });
    // 20:00 UTC on 31 December is already 1 January in Manila: the next year's period.
    expect(periodBoundary(at('2026-12-31T20:00:00Z'), 'YEAR', 'Asia/Manila', 0)).toEqual(at('2026-12-31T16:00:00Z'));
  });

  it('puts the instant of a boundary in the period it starts', () => {
    const boundary = at('2026-12-31T16:00:00Z');
    expect(periodBounds(boundary, 'YEAR', 'Asia/Manila').start).toEqual(boundary);
    expect(periodBounds(new Date(boundary.getTime() - 1), 'YEAR', 'Asia/Manila').end).toEqual(boundary);
  });

  it('handles a zone fourteen hours ahead of UTC', () => {
    // Kiritimati is UTC+14: its 1 January 2027 begins at 10:00 UTC on 31 December 2026.
    expect(periodBounds(at('2026-12-31T09:59:59.999Z'), 'DAY', 'Pacific/Kiritimati')).toEqual({
      start: at('2026-12-30T10:00:00Z'),
      end: at('2026-12-31T10:00:00Z'),
    });
    expect(periodBoundary(at('2026-12-31T10:00:00Z'), 'YEAR', 'Pacific/Kiritimati', 0)).toEqual(
      at('2026-12-31T10:00:00Z'),
    );
  });

  it('measures days across daylight-saving changes in local midnights (23 and 25 hours)', () => {
    // New York springs forward on 8 March 2026 and falls back on 1 November 2026.
    const spring = periodBounds(at('2026-03-08T12:00:00Z'), 'DAY', 'America/New_York');
    expect(spring).toEqual({ start: at('2026-03-08T05:00:00Z'), end: at('2026-03-09T04:00:00Z') });
    const fall = periodBounds(at('2026-11-01T12:00:00Z'), 'DAY', 'America/New_York');
    expect(fall).toEqual({ start: at('2026-11-01T04:00:00Z'), end: at('2026-11-02T05:00:00Z') });
  });

  it('reads a skipped local midnight with the offset before the change, as PostgreSQL does', () => {
    // Santiago moved its clocks from 00:00 to 01:00 on 6 September 2026: that day starts at 00:00 read as
    // UTC-4, which is 01:00 UTC-3.
    expect(periodBoundary(at('2026-09-06T12:00:00Z'), 'DAY', 'America/Santiago', 0)).toEqual(
      at('2026-09-06T04:00:00Z'),
    );
  });

  it('starts weeks on Monday and months on the 1st, through leap days', () => {
    // Thursday 29 February 2024.
    expect(periodBounds(at('2024-02-29T12:00:00Z'), 'WEEK', 'UTC')).toEqual({
      start: at('2024-02-26T00:00:00Z'),
      end: at('2024-03-04T00:00:00Z'),
    });
    expect(periodBounds(at('2024-02-29T12:00:00Z'), 'MONTH', 'UTC')).toEqual({
      start: at('2024-02-01T00:00:00Z'),
      end: at('2024-03-01T00:00:00Z'),
    });
    expect(periodBoundary(at('2024-02-29T12:00:00Z'), 'YEAR', 'UTC', 4)).toEqual(at('2028-01-01T00:00:00Z'));
    expect(periodBoundary(at('2024-02-29T12:00:00Z'), 'MONTH', 'UTC', 12)).toEqual(at('2025-02-01T00:00:00Z'));
  });

  it('rolls a week over a year end', () => {
    // Thursday 31 December 2026; its ISO week began Monday 28 December.
    expect(periodBounds(at('2026-12-31T12:00:00Z'), 'WEEK', 'Europe/Berlin')).toEqual({
      start: at('2026-12-27T23:00:00Z'),
      end: at('2027-01-03T23:00:00Z'),
    });
  });

  it('names zones canonically and refuses what is not one', () => {
    expect(canonicalTimeZone('asia/manila')).toBe('Asia/Manila');
    expect(canonicalTimeZone('UTC')).toBe('UTC');
    for (const bad of ['', 'Mars/Olympus', 'UTC+25', 'x'.repeat(65), 'Europe/Berlin\u0000']) {
      expect(canonicalTimeZone(bad)).toBeNull();
    }
  });
});
