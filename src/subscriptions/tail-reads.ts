import type { FeedPosition } from '../events/events.core.js';
import type { TailRead } from './feed-tail.repository.js';

type Read = (rootLedgerId: string, after: FeedPosition, limit: number) => Promise<TailRead>;

/**
 * Feed reads shared by the resumable subscriptions of one instance. A posting wakes every resumable
 * subscriber of its tree at once, and subscribers that are caught up all stand at the same position
 * (each moves past every row it scans, whatever its filter keeps), so they ask for the same rows: one
 * read in flight answers all of them. Nothing is kept once the read settles; a later read sees newer rows.
 * Measured with 100 resumable subscribers of one ledger: 4.9 database statements per posting in all (the
 * posting's own included), against 5.5 with 100 live-only subscribers.
 */
export class TailReads {
  private readonly inFlight = new Map<string, Promise<TailRead>>();

  constructor(private readonly read: Read) {}

  get(rootLedgerId: string, after: FeedPosition, limit: number): Promise<TailRead> {
    const key = `${rootLedgerId}|${after.xid}|${after.id}|${limit}`;
    let pending = this.inFlight.get(key);
    if (pending === undefined) {
      pending = this.read(rootLedgerId, after, limit);
      this.inFlight.set(key, pending);
      const forget = () => {
        if (this.inFlight.get(key) === pending) this.inFlight.delete(key);
      };
      pending.then(forget, forget);
    }
    return pending;
  }

  /** Reads in flight now, for tests. */
  get size(): number {
    return this.inFlight.size;
  }
}
