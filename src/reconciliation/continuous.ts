import { CoalescedRun } from '../platform/coalesced-run.js';
import type { Database } from '../platform/db.js';
import type { Logger } from '../platform/logger.js';
import { inTransaction } from '../platform/transaction.js';
import { comparePositions, laterPosition } from '../events/events.core.js';
import type { EventFeed } from '../events/feed.service.js';
import { applyRules, createMatcherTables, insertLedgerLines } from './matcher.repository.js';
import {
  advanceSourceCursor,
  anyReferencingRecords,
  claimNextSource,
  createMissingCursors,
  insertContinuousMatches,
  insertContinuousRecords,
  selectTransactionsByReference,
  takePendingRecords,
  type CursorRow,
} from './continuous.repository.js';
import { selectActiveRules } from './run.repository.js';

/** Feed events and queued records one source takes in one transaction; more wait for the next pass. */
export const CONTINUOUS_EVENTS_PER_SOURCE = 1_000;
export const CONTINUOUS_RECORDS_PER_SOURCE = 1_000;
/** Sources one pass visits at most. */
const CONTINUOUS_SOURCES_PER_PASS = 100;
/**
 * How long a nudge waits, so the commits of that time make one pass: at most five passes a second from
 * commits however many there are, which keeps the matcher's cost per posting small (measured in RC2).
 */
const NUDGE_DELAY_MS = 200;
/** The cursor follows the head past other subtrees' events only once it lags this far. */
const HEAD_LAG_XIDS = 1_000n;

/**
 * Continuous matching: each continuous source's new postings (its feed cursor, in commit order below the
 * watermark) and newly imported records (a queue its import fills by trigger) are matched by the source's
 * rules as they arrive, in either order, without a run. One transaction per source locks its cursor and
 * source rows FOR UPDATE SKIP LOCKED, so several instances share the work and do each piece once, and a
 * COMMIT run of the source (which holds the source row) is never raced. Only matches are written; what
 * does not match waits for a run, which declares the period's exceptions.
 *
 * Either arrival order meets: a record taken off the queue sees every posting committed before its pass,
 * and a posting read from the feed sees every record committed before its pass, which a record missed by
 * the first is, since its queue entry was taken earlier still.
 */
export class ContinuousMatcher {
  private timer: NodeJS.Timeout | null = null;
  private nudged: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Whether the last pass found a continuous source: a commit nudges a pass only then. */
  private sourcesSeen = false;
  private cursorsCheckedAt = 0;
  private readonly passes = new CoalescedRun(
    async () => {
      await this.pass();
    },
    (error) => this.logger.error('continuous reconciliation failed', { error }),
    () => !this.stopped,
  );

  constructor(
    private readonly db: Database,
    private readonly feed: EventFeed,
    private readonly logger: Logger,
    private readonly pollIntervalMs: number,
    private readonly attemptsMax: number,
  ) {}

  start(): void {
    if (this.timer || this.pollIntervalMs <= 0) return;
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

  /** A posting committed on this instance: a pass shortly, once for a burst, if any source is continuous. */
  nudge(): void {
    if (!this.sourcesSeen || this.nudged !== null || this.stopped) return;
    this.nudged = setTimeout(() => {
      this.nudged = null;
      this.poke();
    }, NUDGE_DELAY_MS);
    this.nudged.unref();
  }

  poke(): void {
    this.passes.request();
  }

  /** One pass over every continuous source; returns the matches made. Exposed for tests. */
  async pass(): Promise<number> {
    // New continuous sources are looked for at the poll's pace, not on every commit's nudge.
    if (Date.now() - this.cursorsCheckedAt >= this.pollIntervalMs) {
      this.cursorsCheckedAt = Date.now();
      await createMissingCursors(this.db.pool, await this.feed.head());
    }
    let made = 0;
    let after: string | null = null;
    let seen = false;
    let backlog = false;
    for (let visited = 0; visited < CONTINUOUS_SOURCES_PER_PASS && !this.stopped; visited += 1) {
      const outcome: { source: CursorRow | null; made: number; full: boolean } = await inTransaction(
        this.db.pool,
        this.attemptsMax,
        async (client) => {
          const source = await claimNextSource(client, after);
          if (source === null) return { source, made: 0, full: false };
          return { source, ...(await this.match(client, source)) };
        },
      );
      if (outcome.source === null) break;
      seen = true;
      made += outcome.made;
      backlog ||= outcome.full;
      after = outcome.source.sourceId;
    }
    this.sourcesSeen = seen || after !== null;
    if (backlog) this.passes.request();
    return made;
  }

  private async match(client: import('pg').PoolClient, source: CursorRow): Promise<{ made: number; full: boolean }> {
    // Read first: a feed page that is not full has seen every event below it, so the cursor may move here.
    const head = await this.feed.head(client);
    const events = await this.feed.read(
      { rootLedgerId: source.rootLedgerId, ledgerId: source.ledgerId },
      source.cursor,
      CONTINUOUS_EVENTS_PER_SOURCE,
      ['transaction.posted'],
      undefined,
      client,
    );
    const recordIds = await takePendingRecords(client, source, CONTINUOUS_RECORDS_PER_SOURCE);
    const full = events.length === CONTINUOUS_EVENTS_PER_SOURCE || recordIds.length === CONTINUOUS_RECORDS_PER_SOURCE;
    let made = 0;
    const transactionIds = [...new Set(events.map((event) => event.transactionId!).filter((id) => id !== null))];
    if (transactionIds.length > 0 || recordIds.length > 0) {
      const rules = await selectActiveRules(client, source.rootLedgerId, source.sourceId);
      const worthMatching =
        rules.length > 0 &&
        (recordIds.length > 0 || (await anyReferencingRecords(client, source, transactionIds, rules)));
      if (worthMatching) {
        await client.query('SET LOCAL plan_cache_mode = auto');
        await createMatcherTables(client);
        await insertContinuousRecords(client, source, recordIds, transactionIds, rules);
        const referenced =
          recordIds.length > 0 ? await selectTransactionsByReference(client, source.rootLedgerId, rules) : [];
        const lines = [...new Set([...transactionIds, ...referenced])];
        if (lines.length > 0) {
          await insertLedgerLines(
            client,
            { rootLedgerId: source.rootLedgerId, sourceId: source.sourceId, ledgerId: source.ledgerId },
            { transactionIds: lines },
            null,
            rules,
          );
          await applyRules(client, rules);
          made = await insertContinuousMatches(client, source);
        }
      }
    }
    let cursor = source.cursor;
    const last = events.at(-1);
    if (last !== undefined) cursor = laterPosition(cursor, { xid: last.xid, id: last.id });
    // Moving to the head without new events costs a row update per source and pass, so only once the
    // cursor lags far enough that reading the gap again would cost more.
    if (events.length < CONTINUOUS_EVENTS_PER_SOURCE && (last !== undefined || head.xid - cursor.xid > HEAD_LAG_XIDS))
      cursor = laterPosition(cursor, head);
    if (comparePositions(cursor, source.cursor) !== 0) await advanceSourceCursor(client, source, cursor);
    return { made, full };
  }
}
