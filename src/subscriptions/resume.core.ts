import { decodeEventCursor, type FeedPosition } from '../events/events.core.js';
import { BadInputError } from '../platform/errors.js';

/**
 * The rules of a resumable subscription (one given `after`), pure.
 *
 * A resumable subscription emits feed events only, in feed order, each with its own cursor. It does not
 * emit postings as the hub announces them, because the hub announces in commit order and the feed is
 * ordered by writing transaction: a posting held open can commit after a younger one. A client that
 * stored the younger one's cursor and resumed from it would skip the older one for good; a cursor that
 * lagged behind instead would replay the younger one twice. Emitting in feed order makes every emitted
 * cursor a point before which the client has seen everything and after which it has seen nothing, so
 * replay and live are one loop with no seam between them. The price is that a live event waits until
 * every older write transaction has finished (normally a few milliseconds); the hub is only the hint
 * that wakes the loop, never the copy it emits.
 */

/** `after: "now"`: resumable from the feed's head when subscribing, for a client holding no cursor yet. */
export const AFTER_NOW = 'now';

export type ResumePoint = { kind: 'now' } | { kind: 'cursor'; position: FeedPosition };

export function readResumePoint(after: string): ResumePoint {
  if (after === AFTER_NOW) return { kind: 'now' };
  return { kind: 'cursor', position: decodeEventCursor(after, 'after') };
}

/**
 * A cursor naming a transaction that cannot have started yet was not issued by this API: every issued
 * cursor names an event of a transaction older than the snapshot's xmax.
 */
export function assertNotAhead(position: FeedPosition, xmax: bigint): void {
  if (position.xid >= xmax) throw new BadInputError('after is ahead of the event feed: not a cursor this API issued');
}

/** Feed rows one tail read scans at most; fewer than this means the read reached the watermark. */
export const TAIL_SCAN_MAX = 200;
/** While an announced posting is not yet below the watermark, the tail polls, backing off to this. */
export const TAIL_POLL_MS_MIN = 10;
export const TAIL_POLL_MS_MAX = 1_000;
/**
 * A tail with nothing to wait for still reads once this often: a hint lost between instances (the
 * fan-out is at most once) delays an event by this much, never loses it.
 */
export const TAIL_IDLE_READ_MS = 5_000;

/**
 * What the tail does after a read. `caughtUpTo` is the smallest watermark that covers every posting
 * announced before the reads that followed the announcement: the xmax of the first read after each
 * announcement (every transaction that had committed then has an xid below it). The tail is caught up
 * once a read's watermark (xmin) has reached it and the read was not cut short by the scan limit.
 */
export type TailStep = 'read-again' | 'poll' | 'idle';

export function nextTailStep(read: { scanned: number; xmin: bigint }, caughtUpTo: bigint, woken: boolean): TailStep {
  if (read.scanned >= TAIL_SCAN_MAX || woken) return 'read-again';
  return read.xmin < caughtUpTo ? 'poll' : 'idle';
}

export function nextPollDelayMs(previousMs: number | null): number {
  return previousMs === null ? TAIL_POLL_MS_MIN : Math.min(previousMs * 2, TAIL_POLL_MS_MAX);
}
