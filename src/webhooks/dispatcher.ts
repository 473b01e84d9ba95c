import { CoalescedRun } from '../platform/coalesced-run.js';
import type pg from 'pg';
import type { Database } from '../platform/db.js';
import type { Logger } from '../platform/logger.js';
import { firstIdAt, newId } from '../platform/ids.js';
import { inTransaction } from '../platform/transaction.js';
import { comparePositions, laterPosition, type EventType, type FeedPosition } from '../events/events.core.js';
import type { EventFeed } from '../events/feed.service.js';
import { finishedBefore, parseSnapshot } from './endpoint-start.core.js';
import {
  advanceCursor,
  claimEndpointsForDispatch,
  deleteFinishedDeliveries,
  insertEventDeliveries,
  selectDispatchRoots,
  type EndpointRow,
} from './webhooks.repository.js';

/** Endpoints locked by one dispatch transaction, and feed events read for one endpoint in it. */
export const DISPATCH_ENDPOINTS_PER_TRANSACTION = 20;
export const DISPATCH_EVENTS_PER_ENDPOINT = 500;
/** Transactions of one pass at most; a pass that hits it continues on the next tick. */
const DISPATCH_TRANSACTIONS_PER_PASS = 50;
/** Trees one pass looks at, at most: as many as its transactions can serve, one endpoint each. */
const DISPATCH_ROOTS_PER_PASS = DISPATCH_TRANSACTIONS_PER_PASS * DISPATCH_ENDPOINTS_PER_TRANSACTION;

/** Where a pass is in its list of trees: the tree, and the last endpoint of it already claimed. */
interface PassPosition {
  index: number;
  afterId: string | null;
}

/** Finished deliveries deleted per statement, and how often the dispatcher prunes. */
const PRUNE_BATCH = 1_000;
const PRUNE_INTERVAL_MS = 60_000;

/** How long a nudge waits, so that a burst of commits makes one pass. */
const NUDGE_DELAY_MS = 20;
/** The cursor follows the head past events of other subtrees or types only once it lags this far. */
const HEAD_LAG_XIDS = 1_000n;

/**
 * Turns feed events into deliveries. A pass lists the trees with enabled endpoints, then each transaction
 * locks a batch of their enabled endpoints, tree after tree in sorted order with one statement per tree
 * (FOR UPDATE SKIP LOCKED: an endpoint another instance is dispatching is skipped; on Citus a lock must
 * name its shard, docs/citus-routing.md), reads each one's feed after its cursor
 * (its subtree, its types, only below the commit watermark), inserts one delivery per event and moves the
 * cursor, and commits: an event becomes a delivery exactly once, and a crash before the commit leaves
 * the cursor where the event is still ahead of it.
 */
export class Dispatcher {
  private timer: NodeJS.Timeout | null = null;
  private readonly passes = new CoalescedRun(
    async () => {
      const made = await this.pass();
      if (made > 0) this.onDeliveries(made);
    },
    (error) => this.logger.error('webhook dispatch failed', { error }),
    () => !this.stopped,
  );
  private stopped = false;
  /** Whether the last pass found any enabled endpoint; a commit nudges only when it did. */
  private endpointsSeen = false;
  private nudged: NodeJS.Timeout | null = null;
  private prunedAt = 0;
  /** Where the next pass starts, when the last one stopped at its transaction limit: a tree and an endpoint. */
  private resumeAt: { root: string; afterId: string | null } | null = null;

  constructor(
    private readonly db: Database,
    private readonly feed: EventFeed,
    private readonly logger: Logger,
    private readonly pollIntervalMs: number,
    private readonly attemptsMax: number,
    /** Finished deliveries older than this many days are deleted. */
    private readonly retentionDays: number,
    /** Told how many deliveries were made, so that workers need not wait for their own poll. */
    private readonly onDeliveries: (made: number) => void,
  ) {}

  start(): void {
    if (this.timer) return;
    this.stopped = false;
    this.timer = setInterval(() => this.poke(), this.pollIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.nudged) clearTimeout(this.nudged);
    this.timer = null;
    this.nudged = null;
    await this.passes.settled;
  }

  /**
   * A posting committed on this instance. Without endpoints nothing is done (the posting path must not pay
   * for webhooks nobody registered); otherwise a pass runs shortly, once for a burst of commits.
   */
  nudge(): void {
    if (!this.endpointsSeen || this.nudged !== null || this.stopped) return;
    this.nudged = setTimeout(() => {
      this.nudged = null;
      this.poke();
    }, NUDGE_DELAY_MS);
    this.nudged.unref();
  }

  /** Runs a pass now, or right after the one running. */
  poke(): void {
    this.passes.request();
  }

  /** One pass over every enabled endpoint; returns the deliveries made. Exposed for tests. */
  async pass(): Promise<number> {
    const resume = this.resumeAt;
    this.resumeAt = null;
    const roots = await selectDispatchRoots(this.db.pool, resume?.root ?? null, DISPATCH_ROOTS_PER_PASS);
    this.endpointsSeen = roots.length > 0;
    let made = 0;
    let backlog = false;
    let at: PassPosition = { index: 0, afterId: resume !== null && roots[0] === resume.root ? resume.afterId : null };
    for (let transactions = 0; at.index < roots.length && !this.stopped; transactions += 1) {
      if (transactions === DISPATCH_TRANSACTIONS_PER_PASS) {
        this.resumeAt = { root: roots[at.index]!, afterId: at.afterId };
        break;
      }
      const start = at;
      const batch = await inTransaction(this.db.pool, this.attemptsMax, async (client) => {
        const { endpoints, next } = await this.claim(client, roots, start);
        // One head per tree and transaction, read before the first of its pages (see dispatch).
        const heads = new Map<string, FeedPosition>();
        let count = 0;
        let full = false;
        for (const endpoint of endpoints) {
          const outcome = await this.dispatch(client, endpoint, heads);
          count += outcome.made;
          full ||= outcome.full;
        }
        return { count, full, next };
      });
      made += batch.count;
      backlog ||= batch.full;
      at = batch.next;
    }
    // A list cut at its limit: the next pass starts again at its last tree, and goes on past it.
    if (this.resumeAt === null && roots.length === DISPATCH_ROOTS_PER_PASS && !this.stopped) {
      this.resumeAt = { root: roots.at(-1)!, afterId: null };
    }
    // An endpoint with more events than one read takes them on the next pass, which need not wait.
    if (backlog) this.passes.request();
    if (Date.now() - this.prunedAt >= PRUNE_INTERVAL_MS) {
      this.prunedAt = Date.now();
      await this.prune(new Date(Date.now() - this.retentionDays * 86_400_000));
    }
    return made;
  }

  /**
   * Locks up to a transaction's worth of enabled endpoints from `from` on, one statement per tree, the trees
   * in sorted order; returns them and where the next transaction goes on. A tree is done when its claim
   * comes back short (the rest are locked by another instance, or there are none).
   */
  private async claim(
    client: pg.PoolClient,
    roots: string[],
    from: PassPosition,
  ): Promise<{ endpoints: EndpointRow[]; next: PassPosition }> {
    const endpoints: EndpointRow[] = [];
    let at = from;
    while (endpoints.length < DISPATCH_ENDPOINTS_PER_TRANSACTION && at.index < roots.length) {
      const wanted = DISPATCH_ENDPOINTS_PER_TRANSACTION - endpoints.length;
      const claimed = await claimEndpointsForDispatch(client, roots[at.index]!, at.afterId, wanted);
      endpoints.push(...claimed);
      at =
        claimed.length < wanted
          ? { index: at.index + 1, afterId: null }
          : { index: at.index, afterId: claimed.at(-1)!.id };
    }
    return { endpoints, next: at };
  }

  /**
   * Deletes finished deliveries made before `before`, a batch at a time. Any instance may run it at once:
   * each deletes what it finds. Exposed for tests.
   */
  async prune(before: Date): Promise<number> {
    let deleted = 0;
    for (let batch = 0; batch < 10 && !this.stopped; batch += 1) {
      const count = await deleteFinishedDeliveries(this.db.pool, firstIdAt(before), PRUNE_BATCH);
      deleted += count;
      if (count < PRUNE_BATCH) break;
    }
    return deleted;
  }

  private async dispatch(
    client: pg.PoolClient,
    endpoint: EndpointRow,
    heads: Map<string, FeedPosition>,
  ): Promise<{ made: number; full: boolean }> {
    // Read first: the page's own watermark is at least this one, so a page that is not full has seen
    // every event below it, and the cursor may move up to here even past events of other subtrees or
    // types, which keeps the next read short. The tree's own head: on Citus transaction ids, and so feed
    // positions, are the ids of the worker that holds the tree.
    let head = heads.get(endpoint.rootLedgerId);
    if (head === undefined) {
      head = await this.feed.headOf(endpoint.rootLedgerId, client);
      heads.set(endpoint.rootLedgerId, head);
    }
    const types = endpoint.eventTypes.length === 0 ? null : (endpoint.eventTypes as EventType[]);
    const rows = await this.feed.read(
      { rootLedgerId: endpoint.rootLedgerId, ledgerId: endpoint.ledgerId },
      endpoint.cursor,
      DISPATCH_EVENTS_PER_ENDPOINT,
      types,
      undefined,
      client,
    );
    const full = rows.length === DISPATCH_EVENTS_PER_ENDPOINT;
    const start = parseSnapshot(endpoint.startSnapshot);
    const made = await insertEventDeliveries(
      client,
      endpoint,
      'FEED',
      rows
        .filter((row) => !finishedBefore(start, row.xid))
        .map((row) => ({ deliveryId: newId(), xid: row.xid, id: row.id })),
    );
    let cursor = endpoint.cursor;
    const last = rows.at(-1);
    if (last !== undefined) cursor = laterPosition(cursor, { xid: last.xid, id: last.id });
    // Moving to the head without new events costs a row update per endpoint and pass, so only when the
    // cursor lags far enough that re-reading the gap would cost more.
    if (!full && (last !== undefined || head.xid - cursor.xid > HEAD_LAG_XIDS)) cursor = laterPosition(cursor, head);
    if (comparePositions(cursor, endpoint.cursor) !== 0) await advanceCursor(client, endpoint, cursor);
    return { made, full };
  }
}
