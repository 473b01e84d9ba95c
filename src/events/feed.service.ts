import type pg from 'pg';
import type { Database } from '../platform/db.js';
import { BadInputError } from '../platform/errors.js';
import { PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, type Connection } from '../platform/pagination.js';
import {
  decodeEventCursor,
  encodeEventCursor,
  eventTypeCode,
  eventTypeName,
  FEED_START,
  headBelow,
  publicEventId,
  type EventType,
  type FeedPosition,
} from './events.core.js';
import {
  selectEvents,
  selectFeedPage,
  selectJournalTransactions,
  selectTreeBounds,
  selectWatermark,
  type EventRow,
  type FeedQuery,
} from './feed.repository.js';
import { LedgerEvent } from './event.types.js';

/** A subtree of one tree: where a feed reader (or a webhook endpoint) looks. */
export interface FeedScope {
  rootLedgerId: string;
  ledgerId: string;
}

/**
 * The durable, commit-consistent event feed. Every read is bounded (PAGE_SIZE_MAX) and sees only events
 * below the watermark, so paging with the returned cursors never misses or repeats an event.
 */
export class EventFeed {
  constructor(private readonly db: Database) {}

  /** `events(ledgerId, after, first, types)`: oldest first. */
  async page(
    scope: FeedScope,
    after: string | null | undefined,
    first: number | null | undefined,
    types: EventType[] | null,
  ): Promise<Connection<LedgerEvent>> {
    const size = first ?? PAGE_SIZE_DEFAULT;
    if (!Number.isInteger(size) || size < 0 || size > PAGE_SIZE_MAX) {
      throw new BadInputError(`first must be an integer from 0 to ${PAGE_SIZE_MAX}`);
    }
    const rows = await this.read(scope, after == null ? FEED_START : decodeEventCursor(after), size + 1, types);
    const events = await this.withData(rows.slice(0, size));
    const edges = events.map((node) => ({ cursor: node.cursor, node }));
    return {
      edges,
      pageInfo: { hasNextPage: rows.length > size, endCursor: edges.at(-1)?.cursor ?? after ?? null },
    };
  }

  /**
   * Event rows after a position, at most `limit`, oldest first. `reader` is a transaction's client when the
   * read must commit together with what is made of it (webhook deliveries and their endpoint's cursor).
   */
  read(
    scope: FeedScope,
    after: FeedPosition,
    limit: number,
    types: EventType[] | null,
    window?: { from: Date | null; to: Date | null },
    reader: pg.Pool | pg.PoolClient = this.db.pool,
  ): Promise<EventRow[]> {
    const query: FeedQuery = {
      rootLedgerId: scope.rootLedgerId,
      ledgerId: scope.ledgerId,
      wholeTree: scope.ledgerId === scope.rootLedgerId,
      after,
      typeCodes: types?.map(eventTypeCode) ?? null,
      limit,
      occurredFrom: window?.from ?? null,
      occurredTo: window?.to ?? null,
    };
    return selectFeedPage(reader, query);
  }

  /** The feed's head now: a position behind which no event can still appear. */
  async head(reader: pg.Pool | pg.PoolClient = this.db.pool): Promise<FeedPosition> {
    return headBelow(await selectWatermark(reader));
  }

  /**
   * One tree's head now, read where its events are written: on Citus the worker that holds the tree, whose
   * transaction ids its feed positions are. The head to move a cursor of that tree to.
   */
  async headOf(rootLedgerId: string, reader: pg.Pool | pg.PoolClient = this.db.pool): Promise<FeedPosition> {
    return headBelow((await selectTreeBounds(reader, rootLedgerId)).xmin);
  }

  async byKeys(keys: Array<{ rootLedgerId: string; xid: bigint; id: bigint }>): Promise<LedgerEvent[]> {
    return this.withData(await selectEvents(this.db.pool, keys));
  }

  /**
   * Builds each event's `data` from the immutable journal (transactions) or the row's snapshot (accounts,
   * reconciliation runs and exceptions).
   */
  async withData(rows: EventRow[]): Promise<LedgerEvent[]> {
    const journal = await selectJournalTransactions(
      this.db.pool,
      rows
        .filter((row) => row.transactionId !== null)
        .map((row) => ({ rootLedgerId: row.rootLedgerId, transactionId: row.transactionId! })),
    );
    return rows.map((row) => {
      const type = eventTypeName(row.type);
      let data: Record<string, unknown>;
      if (row.transactionId !== null) {
        const transaction = journal.get(row.transactionId);
        data = {
          transaction: transaction && {
            id: transaction.id,
            ledgerId: transaction.ledgerId,
            rootLedgerId: transaction.rootLedgerId,
            kind: transaction.kind,
            status: row.status,
            idempotencyKey: transaction.idempotencyKey,
            description: transaction.description,
            effectiveAt: transaction.effectiveAt.toISOString(),
            postedAt: row.occurredAt.toISOString(),
            reversalOfId: transaction.reversalOfId,
            metadata: transaction.metadata,
            entries: transaction.entries.map(({ accountId, accountCode, asset, direction, amount }) => ({
              accountId,
              accountCode,
              asset,
              direction,
              amount,
            })),
          },
        };
      } else if (type === 'account.created' || type === 'account.updated') {
        data = { account: row.payload };
      } else {
        // Reconciliation events carry their whole data: { run } or { exception }, built by their triggers.
        data = row.payload ?? {};
      }
      return Object.assign(new LedgerEvent(), {
        id: publicEventId(row.id),
        type,
        cursor: encodeEventCursor({ xid: row.xid, id: row.id }),
        position: { xid: row.xid, id: row.id },
        occurredAt: row.occurredAt,
        rootLedgerId: row.rootLedgerId,
        ledgerId: row.ledgerId,
        transactionId: row.transactionId,
        accountId: row.accountId,
        data,
      });
    });
  }
}
