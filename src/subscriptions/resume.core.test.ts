import { encodeEventCursor } from '../events/events.core';
import { BadInputError } from '../platform/errors';
import {
  assertNotAhead,
  nextPollDelayMs,
  nextTailStep,
  readResumePoint,
  TAIL_POLL_MS_MAX,
  TAIL_POLL_MS_MIN,
  TAIL_SCAN_MAX,
} from './resume.core';

describe('readResumePoint', () => {
  it('reads "now" and issued cursors', () => {
    expect(readResumePoint('now')).toEqual({ kind: 'now' });
    expect(readResumePoint(encodeEventCursor({ xid: 12n, id: 34n }))).toEqual({
      kind: 'cursor',
      position: { xid: 12n, id: 34n },
    });
  });

  it.each(['', 'NOW', 'ev:1:2', Buffer.from('ev:1:').toString('base64url'), 'x'.repeat(100)])(
    'refuses %j as not issued here',
    (after) => {
      expect(() => readResumePoint(after)).toThrow(BadInputError);
    },
  );
});

describe('assertNotAhead', () => {
  it('accepts a position of a transaction that has started and refuses one that cannot have', () => {
    expect(() => assertNotAhead({ xid: 99n, id: 1n }, 100n)).not.toThrow();
    expect(() => assertNotAhead({ xid: 100n, id: 1n }, 100n)).toThrow(BadInputError);
  });
});

describe('nextTailStep', () => {
  it('reads again at once when a read was cut short by the scan limit or a wake came meanwhile', () => {
    expect(nextTailStep({ scanned: TAIL_SCAN_MAX, xmin: 10n }, 5n, false)).toBe('read-again');
    expect(nextTailStep({ scanned: 0, xmin: 10n }, 5n, true)).toBe('read-again');
  });

  it('polls while an announced posting may still be above the watermark, and idles once it is not', () => {
    expect(nextTailStep({ scanned: 3, xmin: 10n }, 11n, false)).toBe('poll');
    expect(nextTailStep({ scanned: 3, xmin: 11n }, 11n, false)).toBe('idle');
  });
});

it('backs polls off from the shortest delay to the longest', () => {
  let delay: number | null = null;
  const delays: number[] = [];
  for (let n = 0; n < 12; n += 1) {
    delay = nextPollDelayMs(delay);
    delays.push(delay);
  }
  expect(delays[0]).toBe(TAIL_POLL_MS_MIN);
  expect(delays.at(-1)).toBe(TAIL_POLL_MS_MAX);
  expect(delays).toEqual([...delays].sort((a, b) => a - b));
});
