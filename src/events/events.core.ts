import { BadInputError } from '../platform/errors.js';

/**
 * The durable event feed's vocabulary, pure. Event rows are written by triggers (see the events migration)
 * with a small type code; the names below are the public ones.
 */
export const EVENT_TYPES = [
  'transaction.posted',
  'transaction.voided',
  'account.created',
  'account.updated',
  'reconciliation.run.completed',
  'reconciliation.exception.opened',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Type codes stored in ledger_events.type: the position in EVENT_TYPES, from 1. Never renumber. */
export function eventTypeCode(type: EventType): number {
  return EVENT_TYPES.indexOf(type) + 1;
}

export function eventTypeName(code: number): EventType {
  const name = EVENT_TYPES[code - 1];
  if (name === undefined) throw new Error(`unknown ledger event type code ${code}`);
  return name;
}

/** At most this many type names in one filter. */
export const EVENT_TYPE_FILTER_MAX = EVENT_TYPES.length;

/** Validates a list of event type names (a feed filter or an endpoint's subscription); null or empty: all. */
export function readEventTypes(types: readonly string[] | null | undefined, argument: string): EventType[] | null {
  if (types == null || types.length === 0) return null;
  if (types.length > EVENT_TYPE_FILTER_MAX * 2) throw new BadInputError(`${argument} names too many types`);
  const unknown = types.filter((type) => !(EVENT_TYPES as readonly string[]).includes(type));
  if (unknown.length > 0) {
    throw new BadInputError(
      `${argument} has unknown event types ${unknown.map((type) => JSON.stringify(type)).join(', ')}; known: ${EVENT_TYPES.join(', ')}`,
    );
  }
  return [...new Set(types as EventType[])];
}

/**
 * A place in the feed: the writing transaction's id and the event's sequence number. The feed is ordered
 * by (xid, id) and read only below the oldest transaction still running, so a position never has an
 * unfinished row behind it.
 */
export interface FeedPosition {
  xid: bigint;
  id: bigint;
}

/** Before every event. */
export const FEED_START: FeedPosition = { xid: -1n, id: -1n };

const INT8_MAX = 9_223_372_036_854_775_807n;

/** The position just past every event of transactions below `xmin`: the feed's head as a reader saw it. */
export function headBelow(xmin: bigint): FeedPosition {
  return { xid: xmin - 1n, id: INT8_MAX };
}

export function comparePositions(a: FeedPosition, b: FeedPosition): number {
  if (a.xid !== b.xid) return a.xid < b.xid ? -1 : 1;
  return a.id === b.id ? 0 : a.id < b.id ? -1 : 1;
}

/** The later of two feed positions (the first when they are equal). */
export function laterPosition(a: FeedPosition, b: FeedPosition): FeedPosition {
  return comparePositions(a, b) >= 0 ? a : b;
}

const CURSOR_PATTERN = /^ev:(-1|[0-9]{1,19}):(-1|[0-9]{1,19})$/;

// Opaque to clients; inside, the position of the last event seen.
export function encodeEventCursor(position: FeedPosition): string {
  return Buffer.from(`ev:${position.xid}:${position.id}`).toString('base64url');
}

export function decodeEventCursor(cursor: string, argument = 'after'): FeedPosition {
  const decoded = cursor.length <= 80 ? Buffer.from(cursor, 'base64url').toString() : '';
  const match = CURSOR_PATTERN.exec(decoded);
  if (!match) throw new BadInputError(`${argument} is not an event cursor this API issued`);
  const position = { xid: BigInt(match[1]!), id: BigInt(match[2]!) };
  if (position.xid > INT8_MAX || position.id > INT8_MAX)
    throw new BadInputError(`${argument} is not an event cursor this API issued`);
  return position;
}

/** The public id of an event, and the `webhook-id` of every delivery of it. */
export function publicEventId(id: bigint | string): string {
  return `evt_${id}`;
}
