import type { RunRow } from './run.repository.js';

/** Updates one subscriber may have waiting; a reader that falls further behind is ended, not buffered for. */
export const RUN_UPDATES_PENDING_MAX = 100;

type Listener = (run: RunRow) => void;

/**
 * Run progress and completion for `reconciliationUpdated`, by source. Local to this instance: a run is
 * reported to the subscribers of the instance that runs it (the run's own request), which is where its
 * progress exists. A client on another instance sees the outcome by reading `reconciliationRun`.
 */
export class RunEvents {
  private readonly listeners = new Map<string, Set<Listener>>();

  publish(run: RunRow): void {
    for (const listener of this.listeners.get(run.sourceId) ?? []) listener(run);
  }

  listenerCount(): number {
    let count = 0;
    for (const set of this.listeners.values()) count += set.size;
    return count;
  }

  /** The updates of one source's runs, as an async iterator that ends when the subscriber stops. */
  subscribe(sourceId: string): AsyncIterableIterator<RunRow> {
    const queue: RunRow[] = [];
    let wake: (() => void) | null = null;
    let ended = false;
    let overflowed = false;
    const listener: Listener = (run) => {
      if (ended) return;
      if (queue.length >= RUN_UPDATES_PENDING_MAX) {
        overflowed = true;
        end();
      } else queue.push(run);
      wake?.();
    };
    const end = () => {
      ended = true;
      const set = this.listeners.get(sourceId);
      set?.delete(listener);
      if (set?.size === 0) this.listeners.delete(sourceId);
      wake?.();
    };
    if (!this.listeners.has(sourceId)) this.listeners.set(sourceId, new Set());
    this.listeners.get(sourceId)!.add(listener);
    const iterator: AsyncIterableIterator<RunRow> = {
      [Symbol.asyncIterator]: () => iterator,
      next: async () => {
        while (queue.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        if (overflowed) throw new Error('reconciliationUpdated fell too far behind; subscribe again');
        const run = queue.shift();
        return run === undefined ? { done: true, value: undefined } : { done: false, value: run };
      },
      return: async () => {
        end();
        return { done: true, value: undefined };
      },
    };
    return iterator;
  }
}
