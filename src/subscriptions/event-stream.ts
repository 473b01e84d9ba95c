/**
 * Bounded buffering between the event hub (which pushes whenever a posting commits) and one GraphQL
 * subscription (which pulls as fast as its client reads). No I/O here.
 */

/** The pending-event allowance of one connection, shared by all its subscriptions. */
export class PendingBudget {
  private pending = 0;

  constructor(readonly max: number) {}

  /** Reserves room for one more waiting event; false when the connection already holds `max`. */
  take(): boolean {
    if (this.pending >= this.max) return false;
    this.pending += 1;
    return true;
  }

  give(count = 1): void {
    this.pending = Math.max(0, this.pending - count);
  }

  get size(): number {
    return this.pending;
  }
}

/**
 * An async iterator over raw items pushed from outside, each turned by `map` into zero or more results
 * (an item the subscriber may not see, or that is stale, maps to none). When the connection's budget is
 * exhausted the stream calls `onOverflow` instead of buffering without bound. `return()` (the client
 * completed, or the connection closed) ends it at once, even while a pull is waiting.
 */
export class EventStream<Raw, Result> implements AsyncIterableIterator<Result> {
  private readonly raw: Raw[] = [];
  private readonly ready: Result[] = [];
  private waiter: (() => void) | null = null;
  private ended = false;
  private readonly endListeners: Array<() => void> = [];

  constructor(
    private readonly budget: PendingBudget,
    private readonly onOverflow: () => void,
    private readonly map: (item: Raw) => Promise<Result[]>,
  ) {}

  push(item: Raw): void {
    if (this.ended) return;
    if (!this.budget.take()) {
      this.onOverflow();
      return;
    }
    this.raw.push(item);
    this.wake();
  }

  /** Runs once when the stream ends, whatever ends it. */
  onEnd(listener: () => void): void {
    if (this.ended) listener();
    else this.endListeners.push(listener);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.budget.give(this.raw.length);
    this.raw.length = 0;
    this.ready.length = 0;
    for (const listener of this.endListeners.splice(0)) listener();
    this.wake();
  }

  async next(): Promise<IteratorResult<Result>> {
    for (;;) {
      if (this.ended) return { done: true, value: undefined };
      const result = this.ready.shift();
      if (result !== undefined) return { done: false, value: result };
      const item = this.raw.shift();
      if (item === undefined) {
        await new Promise<void>((resolve) => (this.waiter = resolve));
        continue;
      }
      this.budget.give();
      let results: Result[];
      try {
        results = await this.map(item);
      } catch (error) {
        // The subscription ends with this error; its hub listener must not outlive it.
        this.end();
        throw error;
      }
      if (!this.ended) this.ready.push(...results);
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

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
}
