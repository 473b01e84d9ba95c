/**
 * Per-credential token buckets: each key may make `ratePerSecond` requests per second on average and
 * `burst` at once. Pure and clock-injected, so it is tested without waiting. Buckets are per server
 * instance; behind a load balancer each instance enforces its own share.
 */
export interface RateDecision {
  allowed: boolean;
  /** When refused: seconds until one request's worth has refilled. */
  retryAfterSeconds: number;
}

/** Buckets idle longer than this are forgotten, bounding memory by the number of active keys. */
const IDLE_FORGET_MS = 10 * 60 * 1000;
/** Most buckets kept at once; beyond this the oldest are dropped (they start full again). */
export const RATE_LIMIT_KEYS_MAX = 100_000;

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedAt: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.ratePerSecond > 0;
  }

  take(key: string): RateDecision {
    const { granted, retryAfterSeconds } = this.takeUpTo(key, 1);
    return { allowed: granted === 1, retryAfterSeconds };
  }

  /**
   * Takes as many of `wanted` requests' worth as the bucket holds (a worker's lease, workers.ts); none
   * granted comes with the seconds until one has refilled.
   */
  takeUpTo(key: string, wanted: number): { granted: number; retryAfterSeconds: number } {
    if (!this.enabled) return { granted: wanted, retryAfterSeconds: 0 };
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, updatedAt: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.ratePerSecond);
    bucket.updatedAt = now;
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    this.forgetStale(now);
    const granted = Math.min(wanted, Math.floor(bucket.tokens));
    if (granted >= 1) {
      bucket.tokens -= granted;
      return { granted, retryAfterSeconds: 0 };
    }
    return { granted: 0, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSecond)) };
  }

  private forgetStale(now: number): void {
    // Map iteration follows insertion order, and every use re-inserts: the first entries are the stalest.
    for (const [key, bucket] of this.buckets) {
      if (this.buckets.size <= RATE_LIMIT_KEYS_MAX && now - bucket.updatedAt < IDLE_FORGET_MS) break;
      this.buckets.delete(key);
    }
  }
}
