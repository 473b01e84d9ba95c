import type { RedisClient } from './redis-client.js';
import { RespError } from './resp.core.js';
import type { RateDecision, RateLimiter } from './rate-limit.js';

/**
 * The same token bucket as `RateLimiter`, kept in Redis so every instance draws on one bucket per credential.
 * The script runs atomically in Redis and reads Redis's clock, so instances need no common clock. When Redis
 * fails, the instance falls back to its own buckets (each instance then enforces the limit alone, as without
 * REDIS_URL) and tries Redis again after `RETRY_AFTER_FAILURE_MS`.
 */
const TOKEN_BUCKET = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
if allowed == 1 then return {1, 0} end
return {0, math.max(1, math.ceil((1 - tokens) / rate))}
`;

export const RETRY_AFTER_FAILURE_MS = 1_000;

export class SharedRateLimiter {
  private failedAt: number | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly local: RateLimiter,
    private readonly options: {
      ratePerSecond: number;
      burst: number;
      keyPrefix: string;
      /** Told once per failure spell that Redis is away and limits are per instance meanwhile. */
      onFallback?: (error: Error) => void;
      onRecovered?: () => void;
    },
  ) {}

  get enabled(): boolean {
    return this.options.ratePerSecond > 0;
  }

  async take(key: string): Promise<RateDecision> {
    if (!this.enabled) return { allowed: true, retryAfterSeconds: 0 };
    if (this.failedAt !== null && Date.now() - this.failedAt < RETRY_AFTER_FAILURE_MS) return this.local.take(key);
    try {
      const reply = await this.redis.command([
        'EVAL',
        TOKEN_BUCKET,
        '1',
        `${this.options.keyPrefix}${key}`,
        String(this.options.ratePerSecond),
        String(this.options.burst),
      ]);
      if (reply instanceof RespError) throw new Error(`Redis refused the rate-limit script: ${reply.message}`);
      if (!Array.isArray(reply) || typeof reply[0] !== 'number' || typeof reply[1] !== 'number') {
        throw new Error('Redis answered the rate-limit script with something else');
      }
      if (this.failedAt !== null) {
        this.failedAt = null;
        this.options.onRecovered?.();
      }
      return { allowed: reply[0] === 1, retryAfterSeconds: reply[1] };
    } catch (error) {
      if (this.failedAt === null) this.options.onFallback?.(error as Error);
      this.failedAt = Date.now();
      return this.local.take(key);
    }
  }
}
