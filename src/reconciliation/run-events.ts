import type { Logger } from '../platform/logger.js';
import type { RunReference } from '../events/fanout.js';
import type { RunRow } from './run.repository.js';

/** Updates one subscriber may have waiting; a reader that falls further behind is ended, not buffered for. */
export const RUN_UPDATES_PENDING_MAX = 100;

/** Runs whose last pushed state is remembered, to push each state once when it comes back from other instances. */
const PUSHED_RUNS_MAX = 1_000;

type Listener = (run: RunRow) => void;

/** How run changes travel between instances (the event hub, over the fan-out). */
export interface RunAnnouncer {
  reconciliationRunChanged(run: RunReference): void;
  onRemoteReconciliationRun(listener: (run: RunReference) => void): () => void;
}

/**
 * Run progress and completion for `reconciliationUpdated`, by source. The instance that works a run pushes
 * each state to its own subscribers at once and announces a reference to the others, which read the run
 * back (only when they have a subscriber for its source). A read-back can see a later state than the one
 * announced, so each instance pushes a run's state once, whichever way it learnt it.
 */
export class RunEvents {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly pushed = new Map<string, RunRow['status']>();

  constructor(
    private readonly announcer: RunAnnouncer,
    private readonly loadRun: (reference: RunReference) => Promise<RunRow | null>,
    private readonly logger: Logger,
  ) {
    announcer.onRemoteReconciliationRun((reference) => this.remote(reference));
  }

  publish(run: RunRow): void {
    this.deliver(run);
    this.announcer.reconciliationRunChanged({ rootLedgerId: run.rootLedgerId, sourceId: run.sourceId, runId: run.id });
  }

  private remote(reference: RunReference): void {
    if (!this.listeners.has(reference.sourceId)) return;
    this.loadRun(reference).then(
      (run) => run && this.deliver(run),
      (error) => this.logger.warn('could not read back a reconciliation run', { runId: reference.runId, error }),
    );
  }

  private deliver(run: RunRow): void {
    if (this.pushed.get(run.id) === run.status) return;
    this.pushed.delete(run.id);
    this.pushed.set(run.id, run.status);
    if (this.pushed.size > PUSHED_RUNS_MAX) this.pushed.delete(this.pushed.keys().next().value!);
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
