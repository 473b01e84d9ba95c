import { AggregatorRegistry, type Registry } from 'prom-client';
import { RATE_LIMIT_KEYS_MAX, type RateDecision, type RateLimiter } from './rate-limit.js';
import type { SharedMarks } from './read-replica.js';
import { RETRY_AFTER_FAILURE_MS } from './shared-rate-limit.js';
import {
  IPC_TAG,
  isBroadcast,
  isReply,
  LEASE_MAX_AGE_MS,
  leaseSize,
  PendingRequests,
  type BroadcastMessage,
  type WorkerReplies,
  type WorkerRequest,
  type WorkerSetup,
} from './worker-ipc.core.js';

/** How long a worker waits for the primary: its setup and the metrics of all workers, then anything else. */
export const SETUP_TIMEOUT_MS = 30_000;
export const METRICS_TIMEOUT_MS = 10_000;
/** A rate-limit lease waits at most this long before the worker falls back to its own buckets. */
export const RATE_TAKE_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;

/** A worker's end of the IPC channel to the primary (workers.ts answers). */
export class PrimaryLink {
  private readonly pending = new PendingRequests(REQUEST_TIMEOUT_MS);
  private readonly receivers = new Map<string, (items: string[]) => void>();
  /** How many workers the server runs, once `setup` has answered. */
  workers = 1;

  constructor() {
    process.on('message', (message: unknown) => {
      if (isReply(message)) this.pending.settle(message);
      else if (isBroadcast(message)) this.receivers.get(message.channel)?.(message.broadcast);
    });
    process.once('disconnect', () => this.pending.failAll(new Error('the primary process is gone')));
  }

  /** What the primary prepared for this worker; asked once, before the worker starts. */
  async setup(): Promise<WorkerSetup> {
    const setup = await this.request({ kind: 'setup' }, SETUP_TIMEOUT_MS);
    this.workers = setup.workers;
    return setup;
  }

  request<K extends WorkerRequest['kind']>(
    request: Extract<WorkerRequest, { kind: K }>,
    timeoutMs?: number,
  ): Promise<WorkerReplies[K]> {
    const { message, reply } = this.pending.open(request, timeoutMs);
    try {
      process.send!(message, undefined, undefined, (error) => {
        if (error) this.pending.fail(message.id, error);
      });
    } catch (error) {
      this.pending.fail(message.id, error as Error);
    }
    return reply;
  }

  /** Sends `items` on `channel` to every other worker (through the primary); never throws. */
  broadcast(channel: string, items: string[]): void {
    try {
      process.send?.(
        { tag: IPC_TAG, channel, broadcast: items } satisfies BroadcastMessage,
        undefined,
        undefined,
        () => undefined,
      );
    } catch {
      // The primary is gone; this worker exits with it.
    }
  }

  /** Items other workers broadcast on `channel` arrive here (one receiver per channel; null stops). */
  receiveBroadcasts(channel: string, receive: ((items: string[]) => void) | null): void {
    if (receive === null) this.receivers.delete(channel);
    else this.receivers.set(channel, receive);
  }

  /** The metrics of every worker, summed by the primary. */
  clusterMetrics(): Promise<WorkerReplies['metrics']> {
    return this.request({ kind: 'metrics' }, METRICS_TIMEOUT_MS);
  }

  /** Lets the primary's aggregator read this worker's registry. */
  shareMetrics(registry: Registry): void {
    // Constructing one installs prom-client's answering listener in a worker.
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([registry]);
  }

  /** Write marks kept by the primary for all workers, so a read honours a write another worker served. */
  marks(): SharedMarks {
    return {
      record: async (credential, lsn, keepMs) => {
        await this.request({ kind: 'markRecord', credential, lsn: lsn.toString(), keepMs });
      },
      get: async (credential) => {
        const lsn = await this.request({ kind: 'markGet', credential });
        return lsn === null ? undefined : BigInt(lsn);
      },
    };
  }
}

/**
 * The per-credential buckets of all workers, kept by the primary. A worker takes tokens from them a lease
 * at a time (`leaseSize`) and spends the lease locally, so most requests make no round trip; tokens leave
 * the one bucket before they are spent, so the workers together never exceed the limit (an unspent lease
 * is dropped after `LEASE_MAX_AGE_MS`, which can only refuse early). One lease request per credential is
 * in flight at a time; the requests waiting meanwhile share what it brings.
 *
 * Fails as `SharedRateLimiter` does when Redis is away: a lease the primary does not grant in time falls
 * back to this worker's own buckets (the limit is then enforced per worker), and the primary is asked again
 * after `RETRY_AFTER_FAILURE_MS`.
 */
export class PrimaryRateLimiter {
  private failedAt: number | null = null;
  private readonly leases = new Map<string, { tokens: number; until: number }>();
  private readonly leasing = new Map<string, Promise<RateDecision | null>>();
  private readonly leaseSize: number;

  constructor(
    private readonly link: Pick<PrimaryLink, 'request'>,
    private readonly local: RateLimiter,
    options: { ratePerSecond: number; burst: number; workers: number },
    private readonly events: { onFallback?: (error: Error) => void; onRecovered?: () => void } = {},
  ) {
    this.leaseSize = leaseSize(options.ratePerSecond, options.burst, options.workers);
  }

  get enabled(): boolean {
    return this.local.enabled;
  }

  async take(key: string): Promise<RateDecision> {
    if (!this.enabled) return { allowed: true, retryAfterSeconds: 0 };
    for (;;) {
      if (this.failedAt !== null && Date.now() - this.failedAt < RETRY_AFTER_FAILURE_MS) return this.local.take(key);
      const lease = this.leases.get(key);
      if (lease !== undefined && lease.tokens >= 1 && lease.until > Date.now()) {
        lease.tokens -= 1;
        return { allowed: true, retryAfterSeconds: 0 };
      }
      let leasing = this.leasing.get(key);
      if (leasing === undefined) {
        leasing = this.lease(key).finally(() => this.leasing.delete(key));
        this.leasing.set(key, leasing);
      }
      const refused = await leasing;
      if (refused !== null) return refused;
      // A lease came: spend from it (or, if the requests that waited with this one spent it all, lease again).
    }
  }

  /** Asks the primary for a lease; a refusal when it grants nothing, null when the lease is in place. */
  private async lease(key: string): Promise<RateDecision | null> {
    try {
      const { granted, retryAfterSeconds } = await this.link.request(
        { kind: 'rateLease', key, wanted: this.leaseSize },
        RATE_TAKE_TIMEOUT_MS,
      );
      if (this.failedAt !== null) {
        this.failedAt = null;
        this.events.onRecovered?.();
      }
      if (granted < 1) return { allowed: false, retryAfterSeconds };
      if (this.leases.size >= RATE_LIMIT_KEYS_MAX) this.forgetSpent();
      this.leases.set(key, { tokens: granted, until: Date.now() + LEASE_MAX_AGE_MS });
      return null;
    } catch (error) {
      if (this.failedAt === null) this.events.onFallback?.(error as Error);
      this.failedAt = Date.now();
      return null;
    }
  }

  private forgetSpent(): void {
    const now = Date.now();
    for (const [key, lease] of this.leases) if (lease.tokens < 1 || lease.until <= now) this.leases.delete(key);
    // Every lease still live: start afresh (dropping leases only refuses early).
    if (this.leases.size >= RATE_LIMIT_KEYS_MAX) this.leases.clear();
  }
}
