import type { FeedPosition } from '../events/events.core.js';
import type { TailRead, TailRow } from './feed-tail.repository.js';
import { nextPollDelayMs, nextTailStep, TAIL_IDLE_READ_MS, TAIL_SCAN_MAX } from './resume.core.js';

/**
 * One resumable subscription's pull loop over the feed: read the rows after the position, hand them to
 * `emit` (which filters, authorizes and turns them into results), move the position past them, and when
 * nothing is left wait for a wake-up (the hub announced a posting that may concern it) or a poll.
 *
 * It reads only when its client has taken what it was given, so a slow client makes it lag behind the
 * feed instead of buffering: the feed is durable and nothing needs to be dropped, nor the connection
 * closed, as the live-only stream must. No I/O here besides `read` and `emit`.
 */
export class FeedTail<Result> implements AsyncIterableIterator<Result> {
  private readonly ready: Result[] = [];
  private ended = false;
  /** Starts woken: the first read must cover every posting that committed before the subscription. */
  private woken = true;
  private caughtUpTo = 0n;
  private pollMs: number | null = null;
  private waiter: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly endListeners: Array<() => void> = [];

  constructor(
    private position: FeedPosition,
    private readonly read: (after: FeedPosition, limit: number) => Promise<TailRead>,
    private readonly emit: (rows: TailRow[]) => Promise<Result[]>,
  ) {}

  /** A posting was announced after its commit: the next read must reach past it. */
  wake(): void {
    this.woken = true;
    this.resume();
  }

  /** Results to send before anything read from the feed (the current balance, with includeCurrent). */
  offer(results: Result[]): void {
    if (!this.ended) this.ready.push(...results);
  }

  onEnd(listener: () => void): void {
    if (this.ended) listener();
    else this.endListeners.push(listener);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.ready.length = 0;
    for (const listener of this.endListeners.splice(0)) listener();
    this.resume();
  }

  async next(): Promise<IteratorResult<Result>> {
    try {
      for (;;) {
        if (this.ended) return { done: true, value: undefined };
        const result = this.ready.shift();
        if (result !== undefined) return { done: false, value: result };
        await this.fill();
      }
    } catch (error) {
      // A failed read ends the subscription; the client resumes from the last cursor it was given.
      this.end();
      throw error;
    }
  }

  async return(): Promise<IteratorResult<Result>> {
    this.end();
    return { done: true, value: undefined };
  }

  async throw(error?: unknown): Promise<IteratorResult<Result>> {
    this.end();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** One read, then, when it produced nothing, one wait. */
  private async fill(): Promise<void> {
    const announced = this.woken;
    this.woken = false;
    const page = await this.read(this.position, TAIL_SCAN_MAX);
    if (announced && page.xmax > this.caughtUpTo) this.caughtUpTo = page.xmax;
    const last = page.rows.at(-1);
    const results = page.rows.length === 0 || this.ended ? [] : await this.emit(page.rows);
    if (this.ended) return;
    // The position moves only once the rows' results are in hand, so a failed emit loses nothing.
    if (last !== undefined) {
      this.position = { xid: last.xid, id: last.id };
      this.pollMs = null;
    }
    this.ready.push(...results);
    if (this.ready.length > 0) return;
    const step = nextTailStep({ scanned: page.rows.length, xmin: page.xmin }, this.caughtUpTo, this.woken);
    if (step === 'read-again') return;
    if (step === 'poll') {
      this.pollMs = nextPollDelayMs(this.pollMs);
      await this.sleep(this.pollMs);
    } else {
      this.pollMs = null;
      // An idle read counts as announced: it must reach past anything a lost hint failed to announce.
      if (await this.sleep(TAIL_IDLE_READ_MS)) this.woken = true;
    }
  }

  /** Resolves after `ms`, or sooner on a wake or the end; true when the time ran out. */
  private sleep(ms: number): Promise<boolean> {
    if (this.woken || this.ended) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.waiter = null;
        resolve(true);
      }, ms);
      this.waiter = () => resolve(false);
    });
  }

  private resume(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
}
