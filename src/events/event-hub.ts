import { randomUUID } from 'node:crypto';
import type { Logger } from '../platform/logger.js';
import type { CredentialEvents } from './credential-events.js';
import type { Fanout, FanoutItem, FanoutMessage, RunReference } from './fanout.js';
import type { CommittedPosting, LedgerEvents } from './ledger-events.js';

export type PostingListener = (posting: CommittedPosting) => void;

/** Where a listener is filed, so that a posting reaches only the listeners that may care. */
export const listenKey = {
  account: (accountId: string) => `account:${accountId}`,
  root: (rootLedgerId: string) => `root:${rootLedgerId}`,
  everything: '*',
} as const;

/** Reads a posting back from the database when it crossed instances as a reference only. */
export type PostingLoader = (rootLedgerId: string, transactionId: string) => Promise<CommittedPosting | null>;

/**
 * The in-process hub between the posting engine and subscriptions. Postings committed here reach local
 * listeners at once and go to the other instances through the fan-out; postings committed elsewhere come
 * back through the fan-out. Listeners are indexed by account and root ledger: one posting costs a few
 * map lookups, however many subscribers are connected.
 */
export class EventHub implements LedgerEvents, CredentialEvents {
  readonly instanceId = randomUUID();
  private readonly postingListeners = new Map<string, Set<PostingListener>>();
  private readonly revocationListeners = new Map<string, Set<() => void>>();
  private readonly runListeners = new Set<(run: RunReference) => void>();
  private readonly fanout: Fanout;

  /** `fanout` is made for this hub: it tags what it sends with the hub's instance id, to skip its own echo. */
  constructor(
    fanout: (instanceId: string) => Fanout,
    private readonly loadPosting: PostingLoader,
    private readonly logger: Logger,
  ) {
    this.fanout = fanout(this.instanceId);
  }

  start(): Promise<void> {
    return this.fanout.start((message) => this.receive(message));
  }

  stop(): Promise<void> {
    return this.fanout.stop();
  }

  committed(posting: CommittedPosting): void {
    this.deliverPosting(posting);
    this.publish({ kind: 'posting', posting });
  }

  apiKeyRevoked(keyId: string): void {
    this.deliverRevocation(keyId);
    this.publish({ kind: 'apiKeyRevoked', keyId });
  }

  /** Tells the other instances that a reconciliation run changed; this instance's own subscribers are told by its caller. */
  reconciliationRunChanged(run: RunReference): void {
    this.publish({ kind: 'reconciliationRun', run });
  }

  /** Runs that changed on other instances; returns the function that removes the listener. */
  onRemoteReconciliationRun(listener: (run: RunReference) => void): () => void {
    this.runListeners.add(listener);
    return () => this.runListeners.delete(listener);
  }

  /** Files a listener under one key; returns the function that removes it. */
  onPosting(key: string, listener: PostingListener): () => void {
    return addTo(this.postingListeners, key, listener);
  }

  onApiKeyRevoked(keyId: string, listener: () => void): () => void {
    return addTo(this.revocationListeners, keyId, listener);
  }

  /** Listeners currently filed, for tests and metrics. */
  listenerCount(): number {
    let count = 0;
    for (const listeners of this.postingListeners.values()) count += listeners.size;
    return count;
  }

  private publish(item: FanoutItem): void {
    try {
      this.fanout.publish(item);
    } catch (error) {
      this.logger.error('could not queue an event for other instances', { error });
    }
  }

  private receive(message: FanoutMessage): void {
    for (const item of message.items) {
      if (item.kind === 'posting') this.deliverPosting(item.posting);
      else if (item.kind === 'apiKeyRevoked') this.deliverRevocation(item.keyId);
      else if (item.kind === 'reconciliationRun') this.deliverRun(item.run);
      else if (this.hasListenersFor(item.rootLedgerId)) {
        this.loadPosting(item.rootLedgerId, item.transactionId).then(
          (posting) => posting && this.deliverPosting(posting),
          (error) =>
            this.logger.warn('could not read back a posting announced by another instance', {
              transactionId: item.transactionId,
              error,
            }),
        );
      }
    }
  }

  /** Reading a large posting back is worth it only when something here could be listening. */
  private hasListenersFor(rootLedgerId: string): boolean {
    if (this.postingListeners.has(listenKey.everything) || this.postingListeners.has(listenKey.root(rootLedgerId)))
      return true;
    for (const key of this.postingListeners.keys()) if (key.startsWith('account:')) return true;
    return false;
  }

  /** Told how long each posting took from commit to this hub (metrics). */
  observeDeliveryLag: (seconds: number) => void = () => undefined;

  private deliverPosting(posting: CommittedPosting): void {
    const committedAt = posting.balances.reduce(
      (latest, balance) => Math.max(latest, new Date(balance.updatedAt).getTime()),
      0,
    );
    if (committedAt > 0) this.observeDeliveryLag(Math.max(0, Date.now() - committedAt) / 1000);
    const keys = [
      listenKey.everything,
      listenKey.root(posting.rootLedgerId),
      ...posting.accountIds.map(listenKey.account),
    ];
    for (const key of keys) {
      const listeners = this.postingListeners.get(key);
      if (listeners === undefined) continue;
      for (const listener of listeners) {
        try {
          listener(posting);
        } catch (error) {
          this.logger.error('a posting listener failed', { transactionId: posting.transactionId, error });
        }
      }
    }
  }

  private deliverRun(run: RunReference): void {
    for (const listener of this.runListeners) {
      try {
        listener(run);
      } catch (error) {
        this.logger.error('a reconciliation run listener failed', { runId: run.runId, error });
      }
    }
  }

  private deliverRevocation(keyId: string): void {
    for (const listener of this.revocationListeners.get(keyId) ?? []) {
      try {
        listener();
      } catch (error) {
        this.logger.error('a revocation listener failed', { keyId, error });
      }
    }
  }
}

function addTo<T>(index: Map<string, Set<T>>, key: string, value: T): () => void {
  let set = index.get(key);
  if (set === undefined) {
    set = new Set();
    index.set(key, set);
  }
  set.add(value);
  return () => {
    set.delete(value);
    if (set.size === 0 && index.get(key) === set) index.delete(key);
  };
}
