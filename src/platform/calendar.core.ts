/**
 * Calendar periods in an IANA time zone: pure arithmetic, no I/O.
 *
 * A period starts at local midnight (a day; the Monday of an ISO week; the 1st of a month; 1 January) and
 * ends where the next one starts, so "the end of 2027, Manila time" is the instant 2028-01-01T00:00+08:00.
 * Local times are turned into instants the way PostgreSQL's `timestamp AT TIME ZONE` does, so the server
 * and any SQL that states the same rule agree: a local time that a clock change skips is read with the
 * offset in force before the change; one it repeats, with the offset after it.
 */

export type CalendarPeriod = 'DAY' | 'WEEK' | 'MONTH' | 'YEAR';
export const CALENDAR_PERIODS: readonly CalendarPeriod[] = ['DAY', 'WEEK', 'MONTH', 'YEAR'];

const formatters = new Map<string, Intl.DateTimeFormat>();
const FORMATTERS_MAX = 1_000;

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (formatters.size >= FORMATTERS_MAX) formatters.clear();
    formatters.set(timeZone, format);
  }
  return format;
}

/** The zone's canonical IANA name ("asia/manila" → "Asia/Manila"), or null when it is not a zone. */
export function canonicalTimeZone(name: string): string | null {
  if (name.length === 0 || name.length > 64) return null;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

/** A local date and time as proleptic-Gregorian fields, read as if it were UTC (months 1–12). */
interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function wallClock(instant: number, timeZone: string): WallClock {
  const parts: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(instant))) {
    if (part.type !== 'literal' && part.type !== 'era') parts[part.type] = Number(part.value);
  }
  return {
    year: parts.year!,
    month: parts.month!,
    day: parts.day!,
    hour: parts.hour!,
    minute: parts.minute!,
    second: parts.second!,
  };
}

function wallMillis(wall: WallClock): number {
  return Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
}

/** How far the zone's clock is ahead of UTC at an instant, in milliseconds (whole seconds). */
function offsetAt(instant: number, timeZone: string): number {
  const whole = Math.floor(instant / 1000) * 1000;
  return wallMillis(wallClock(whole, timeZone)) - whole;
}

/**
 * The instant a local wall-clock time names in a zone. Skipped times take the offset before the change;
 * repeated times the offset after it (PostgreSQL's rule).
 */
function instantOf(wall: number, timeZone: string): number {
  // The two offsets in force on either side of any change near this wall time: a change moves the clock
  // by at most a day, so looking a day either way finds them.
  const before = offsetAt(wall - 86_400_000, timeZone);
  const after = offsetAt(wall + 86_400_000, timeZone);
  const withAfter = wall - after;
  if (offsetAt(withAfter, timeZone) === after) return withAfter;
  const withBefore = wall - before;
  if (offsetAt(withBefore, timeZone) === before) return withBefore;
  // In a gap neither reading holds: PostgreSQL uses the offset before the change.
  return withBefore;
}

/** Midnight-aligned local fields of the period that contains a wall time. */
function startFields(wall: WallClock, period: CalendarPeriod): { year: number; month: number; day: number } {
  switch (period) {
    case 'DAY':
      return { year: wall.year, month: wall.month, day: wall.day };
    case 'WEEK': {
      const weekday = new Date(Date.UTC(wall.year, wall.month - 1, wall.day)).getUTCDay(); // 0 = Sunday
      const sinceMonday = (weekday + 6) % 7;
      return { year: wall.year, month: wall.month, day: wall.day - sinceMonday };
    }
    case 'MONTH':
      return { year: wall.year, month: wall.month, day: 1 };
    case 'YEAR':
      return { year: wall.year, month: 1, day: 1 };
  }
}

function shifted(start: { year: number; month: number; day: number }, period: CalendarPeriod, count: number): number {
  switch (period) {
    case 'DAY':
      return Date.UTC(start.year, start.month - 1, start.day + count);
    case 'WEEK':
      return Date.UTC(start.year, start.month - 1, start.day + 7 * count);
    case 'MONTH':
      return Date.UTC(start.year, start.month - 1 + count, start.day);
    case 'YEAR':
      return Date.UTC(start.year + count, start.month - 1, start.day);
  }
}

/**
 * The start of the period `offset` periods after the one containing `instant` (0: its own start; 1: the
 * end of its period), in `timeZone`, which must be a valid zone (see canonicalTimeZone).
 */
export function periodBoundary(instant: Date, period: CalendarPeriod, timeZone: string, offset: number): Date {
  const start = startFields(wallClock(instant.getTime(), timeZone), period);
  return new Date(instantOf(shifted(start, period, offset), timeZone));
}

/** The bounds [start, end) of the calendar period that contains `instant`. */
export function periodBounds(instant: Date, period: CalendarPeriod, timeZone: string): { start: Date; end: Date } {
  return {
    start: periodBoundary(instant, period, timeZone, 0),
    end: periodBoundary(instant, period, timeZone, 1),
  };
}
