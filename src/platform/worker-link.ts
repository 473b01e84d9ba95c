import { AggregatorRegistry, type Registry } from 'prom-client';
import type { RateDecision, RateLimiter } from './rate-limit.js';
import type { SharedMarks } from './read-replica.js';
import { RETRY_AFTER_FAILURE_MS } from './shared-rate-limit.js';
import {
  IPC_TAG,
  isBroadcast,
  isReply,
  PendingRequests,
  type BroadcastMessage,
  type WorkerReplies,
  type WorkerRequest,
} from './worker-ipc.core.js';

/** How long a worker waits for the primary: its setup and the metrics of all workers, then anything else. */
export const SETUP_TIMEOUT_MS = 30_000;
export const METRICS_TIMEOUT_MS = 10_000;
/** A rate-limit take waits at most this long before the worker falls back to its own buckets. */
export const RATE_TAKE_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;

/** A worker's end of the IPC channel to the primary (workers.ts answers). */
export class PrimaryLink {
  private readonly pending = new PendingRequests(REQUEST_TIMEOUT_MS);
  private readonly receivers = new Map<string, (items: string[]) => void>();

  constructor() {
    process.on('message', (message: unknown) => {
      if (isReply(message)) this.pending.settle(message);
      else if (isBroadcast(message)) this.receivers.get(message.channel)?.(message.broadcast);
    });
    process.once('disconnect', () => this.pending.failAll(new Error('the primary process is gone')));
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
 * The per-credential buckets of all workers, kept by the primary. Fails as `SharedRateLimiter` does when
 * Redis is away: a take the primary does not answer in time falls back to this worker's own buckets (the
 * limit is then enforced per worker), and the primary is asked again after `RETRY_AFTER_FAILURE_MS`.
 */
export class PrimaryRateLimiter {
  private failedAt: number | null = null;

  constructor(
    private readonly link: PrimaryLink,
    private readonly local: RateLimiter,
    private readonly options: { onFallback?: (error: Error) => void; onRecovered?: () => void } = {},
  ) {}

  get enabled(): boolean {
    return this.local.enabled;
  }

  async take(key: string): Promise<RateDecision> {
    if (!this.enabled) return { allowed: true, retryAfterSeconds: 0 };
    if (this.failedAt !== null && Date.now() - this.failedAt < RETRY_AFTER_FAILURE_MS) return this.local.take(key);
    try {
      const decision = await this.link.request({ kind: 'rateTake', key }, RATE_TAKE_TIMEOUT_MS);
      if (this.failedAt !== null) {
        this.failedAt = null;
        this.options.onRecovered?.();
      }
      return decision;
    } catch (error) {
      if (this.failedAt === null) this.options.onFallback?.(error as Error);
      this.failedAt = Date.now();
      return this.local.take(key);
    }
  }
}
