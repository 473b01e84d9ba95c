import { availableParallelism } from 'node:os';
import path from 'node:path';
import { DatabaseUrlError, parseDatabaseUrl, parseReadUrl } from './database-url.core.js';
import { RespProtocolError, parseRedisUrl } from './resp.core.js';

/** How long a stale-OK read waits for a replica to replay its caller's last write (read-replica.ts). */
export const READ_MAX_WAIT_MS_DEFAULT = 100;

/** Everything the server reads from its environment, validated once at start-up. */
export interface Config {
  /** Postgres to use; when absent the server starts an embedded PostgreSQL in `dataDir`. */
  databaseUrl: string | undefined;
  /** Streaming replicas (a libpq-style host list, each host a replica) for stale-OK reads; absent: all on the primary. */
  databaseReadUrl?: string;
  /** How long a stale-OK read waits for a replica to replay its caller's last write before using the primary. */
  databaseReadMaxWaitMs?: number;
  /**
   * `DATABASE_URL` is a Citus coordinator (after `npm run db:distribute`): transactions leave plan choice to
   * the distributed planner instead of forcing generic plans, which would hide the root from it.
   */
  databaseCitus: boolean;
  host: string;
  port: number;
  /**
   * Worker processes sharing the port (node:cluster), the primary doing the once-only work; 1 runs one
   * process as before workers existed. Default: one per core.
   */
  webConcurrency: number;
  /** Bootstrap global admin secret; generated and kept in `dataDir` in embedded mode when absent. */
  adminApiKey: string | undefined;
  environment: 'development' | 'production' | 'test';
  dataDir: string;
  embeddedPostgresPort: number;
  /** Connections in each process's pool (each worker's, with WEB_CONCURRENCY > 1). */
  databasePoolMax: number;
  /** Largest accepted HTTP request body. */
  bodyLimitBytes: number;
  /** Attempts at a posting that hits a serialization failure or deadlock before answering CONFLICT. */
  postingAttemptsMax: number;
  /** How long a verified API key is trusted without a lookup; 0 looks every request up. */
  apiKeyCacheMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Whether clients may introspect the schema; default: everywhere but production. */
  introspection: boolean;
  /** Whether validation errors suggest field names ("did you mean ..."); default: everywhere but production. */
  schemaHints: boolean;
  /** Requests per second one credential may average (0: no limit), and how many it may make at once. */
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  /** Redis that holds the rate-limit buckets, shared by every instance; absent: each instance keeps its own. */
  redisUrl?: string;
  /** Prefix of the buckets' keys in Redis: instances that share limits share it. */
  redisKeyPrefix?: string;
  /** Seconds between expiry and hold-timeout passes; 0 turns the scheduler off. */
  schedulerIntervalSeconds: number;
  /**
   * HS256 key that signs customer tokens; generated and kept in `dataDir` in embedded mode when absent.
   * Without one (and not embedded) customer tokens are off: instances must share the key, so none is invented.
   */
  tokenSecret: string | undefined;
  /** Whether the API serves the GraphiQL IDE at /graphiql (and to browsers at /graphql). */
  graphiql: boolean;
  /** Whether webhooks may target loopback, private, link-local and metadata addresses (development, tests). */
  webhookAllowPrivateNetworks: boolean;
  realtime: RealtimeConfig;
  /**
   * Key that encrypts webhook signing secrets at rest (AES-256-GCM, derived with HKDF); generated and kept
   * in `dataDir` in embedded mode when absent. Without one (and not embedded) webhooks are off: instances
   * must share the key to read each other's secrets, so none is invented.
   */
  webhookSecretKey: string | undefined;
  webhooks: WebhookConfig;
  /**
   * Key of the HMAC under which gift card codes are stored (so a card is found by its code, and a copy of
   * the table cannot be searched without the key); generated and kept in `dataDir` in embedded mode when
   * absent. Without one (and not embedded) gift cards are off: instances must share it, so none is invented.
   */
  giftCardKey: string | undefined;
}

/** Outgoing webhooks: delivery timing, retries and bounds. */
export interface WebhookConfig {
  /** Multiplies the retry schedule, the lease margin and the failing-endpoint window (tests use 0.001). */
  retryScale: number;
  /** One attempt's whole request, connect to response headers. */
  timeoutMs: number;
  /** How long the secret replaced by a rotation keeps signing beside the new one. */
  rotationOverlapSeconds: number;
  /** Deliveries in flight to one endpoint at once (per worker strictly, across workers and instances best effort). */
  endpointConcurrency: number;
  /** Deliveries in flight from this instance (each worker process) at once. */
  concurrency: number;
  /** How often the dispatcher and the workers look for work when nothing woke them. */
  pollIntervalMs: number;
  /** Finished deliveries older than this are deleted (the feed keeps the events; redelivery reads the feed). */
  deliveryRetentionDays: number;
}

export const DEFAULT_WEBHOOKS: WebhookConfig = {
  retryScale: 1,
  timeoutMs: 10_000,
  rotationOverlapSeconds: 86_400,
  endpointConcurrency: 4,
  concurrency: 32,
  pollIntervalMs: 1_000,
  deliveryRetentionDays: 30,
};

/** Subscriptions over WebSocket and the cross-instance fan-out of ledger events. */
export interface RealtimeConfig {
  /** `postgres`: LISTEN/NOTIFY reaches every instance on the database; `local`: this server's workers only. */
  fanout: 'postgres' | 'local';
  /** Open WebSocket connections one instance (one worker process) accepts; more are refused with HTTP 503. */
  wsConnectionsMax: number;
  /** Active subscriptions on one connection; more are refused with RATE_LIMITED. */
  wsSubscriptionsPerConnectionMax: number;
  /** Largest message a client may send; a bigger one closes the connection with 1009. */
  wsMessageBytesMax: number;
  /** Events waiting for a slow client on one connection; more close it with 1013. */
  wsPendingEventsMax: number;
  /** Interval of WebSocket pings; a client that misses a pong for as long is dropped. */
  wsKeepAliveMs: number;
}

export const DEFAULT_REALTIME: RealtimeConfig = {
  fanout: 'postgres',
  wsConnectionsMax: 10_000,
  wsSubscriptionsPerConnectionMax: 100,
  wsMessageBytesMax: 65_536,
  wsPendingEventsMax: 1_000,
  wsKeepAliveMs: 12_000,
};

/** HS256 wants a key at least as long as its 256-bit output. */
export const TOKEN_SECRET_LENGTH_MIN = 32;
/** The webhook secret key is hashed into the AES key, so it only needs to be as long as the token secret. */
export const WEBHOOK_SECRET_KEY_LENGTH_MIN = 32;
export const API_KEY_CACHE_MS_DEFAULT = 1_000;
/** Most worker processes: each holds its own database pool (DB_POOL_MAX) and its own copy of the schema. */
export const WEB_CONCURRENCY_MAX = 64;
/** The gift card key is an HMAC-SHA256 key: at least as long as the hash's 256-bit output. */
export const GIFT_CARD_KEY_LENGTH_MIN = 32;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];

  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!/^[0-9]+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(raw)}`);
      return fallback;
    }
    return Number(raw);
  };

  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      problems.push(`${name} must be one of ${allowed.join(', ')}; got ${JSON.stringify(raw)}`);
      return fallback;
    }
    return raw as T;
  };

  const flag = (name: string, fallback: boolean): boolean => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (raw !== 'true' && raw !== 'false') {
      problems.push(`${name} must be true or false; got ${JSON.stringify(raw)}`);
      return fallback;
    }
    return raw === 'true';
  };

  // Positive decimals: the retry scale is a fraction in tests.
  const decimal = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!/^[0-9]+(\.[0-9]+)?$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name} must be a number from ${min} to ${max}; got ${JSON.stringify(raw)}`);
      return fallback;
    }
    return Number(raw);
  };

  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// connection string');
  } else if (databaseUrl !== undefined) {
    // A host list (h1:p1,h2:p2) is checked here, so a malformed one stops the server before it connects.
    try {
      parseDatabaseUrl(databaseUrl);
    } catch (error) {
      if (!(error instanceof DatabaseUrlError)) throw error;
      problems.push(error.message);
    }
  }

  const databaseReadUrl = env.DATABASE_READ_URL || undefined;
  if (databaseReadUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseReadUrl)) {
    problems.push('DATABASE_READ_URL must be a postgres:// or postgresql:// connection string');
  } else if (databaseReadUrl !== undefined) {
    try {
      parseReadUrl(databaseReadUrl);
    } catch (error) {
      if (!(error instanceof DatabaseUrlError)) throw error;
      problems.push(error.message);
    }
    if (databaseUrl === undefined) {
      problems.push('DATABASE_READ_URL needs DATABASE_URL: the embedded database has no replicas');
    }
  }

  const redisUrl = env.REDIS_URL || undefined;
  if (redisUrl !== undefined) {
    try {
      parseRedisUrl(redisUrl);
    } catch (error) {
      if (!(error instanceof RespProtocolError)) throw error;
      problems.push(error.message);
    }
  }
  const redisKeyPrefix = env.REDIS_KEY_PREFIX || 'reward-ledger:rate:';
  if (redisKeyPrefix.length > 64 || /\s/.test(redisKeyPrefix)) {
    problems.push('REDIS_KEY_PREFIX must be at most 64 characters without whitespace');
  }

  const adminApiKey = env.ADMIN_API_KEY || undefined;
  if (adminApiKey !== undefined && (adminApiKey.length < 24 || adminApiKey.length > 256 || /\s/.test(adminApiKey))) {
    problems.push('ADMIN_API_KEY must be 24 to 256 characters without whitespace');
  }

  const tokenSecret = env.TOKEN_SECRET || undefined;
  if (
    tokenSecret !== undefined &&
    (tokenSecret.length < TOKEN_SECRET_LENGTH_MIN || tokenSecret.length > 512 || /\s/.test(tokenSecret))
  ) {
    problems.push(`TOKEN_SECRET must be ${TOKEN_SECRET_LENGTH_MIN} to 512 characters without whitespace`);
  }

  const webhookSecretKey = env.WEBHOOK_SECRET_KEY || undefined;
  if (
    webhookSecretKey !== undefined &&
    (webhookSecretKey.length < WEBHOOK_SECRET_KEY_LENGTH_MIN ||
      webhookSecretKey.length > 512 ||
      /\s/.test(webhookSecretKey))
  ) {
    problems.push(`WEBHOOK_SECRET_KEY must be ${WEBHOOK_SECRET_KEY_LENGTH_MIN} to 512 characters without whitespace`);
  }

  const giftCardKey = env.GIFT_CARD_KEY || undefined;
  if (
    giftCardKey !== undefined &&
    (giftCardKey.length < GIFT_CARD_KEY_LENGTH_MIN || giftCardKey.length > 512 || /\s/.test(giftCardKey))
  ) {
    problems.push(`GIFT_CARD_KEY must be ${GIFT_CARD_KEY_LENGTH_MIN} to 512 characters without whitespace`);
  }

  const environment = oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development');
  const embeddedPostgresPort = integer('EMBEDDED_PG_PORT', 54329, 1024, 65535);
  if (embeddedPostgresPort === 5432) {
    problems.push('EMBEDDED_PG_PORT must not be 5432: that port belongs to the system PostgreSQL');
  }

  const config: Config = {
    databaseUrl,
    databaseReadUrl,
    databaseReadMaxWaitMs: integer('DATABASE_READ_MAX_WAIT_MS', READ_MAX_WAIT_MS_DEFAULT, 0, 10_000),
    databaseCitus: flag('DATABASE_CITUS', false),
    host: env.HOST || '0.0.0.0',
    port: integer('PORT', 4000, 0, 65535),
    webConcurrency: integer(
      'WEB_CONCURRENCY',
      Math.min(availableParallelism(), WEB_CONCURRENCY_MAX),
      1,
      WEB_CONCURRENCY_MAX,
    ),
    adminApiKey,
    environment,
    dataDir: path.resolve(env.DATA_DIR || '.data'),
    embeddedPostgresPort,
    databasePoolMax: integer('DB_POOL_MAX', 10, 1, 500),
    bodyLimitBytes: integer('BODY_LIMIT_BYTES', 1_048_576, 1024, 16_777_216),
    postingAttemptsMax: integer('POSTING_ATTEMPTS_MAX', 5, 1, 20),
    introspection: flag('INTROSPECTION', environment !== 'production'),
    schemaHints: flag('SCHEMA_HINTS', environment !== 'production'),
    rateLimitPerSecond: integer('RATE_LIMIT_PER_SECOND', 5000, 0, 1_000_000),
    rateLimitBurst: integer('RATE_LIMIT_BURST', 10_000, 1, 10_000_000),
    redisUrl,
    redisKeyPrefix,
    schedulerIntervalSeconds: integer('SCHEDULER_INTERVAL_SECONDS', 60, 0, 86_400),
    apiKeyCacheMs: integer('API_KEY_CACHE_MS', API_KEY_CACHE_MS_DEFAULT, 0, 60_000),
    logLevel: oneOf('LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const, 'info'),
    tokenSecret,
    // The IDE needs introspection, which production turns off; GRAPHIQL=true serves it anyway.
    graphiql: flag('GRAPHIQL', environment !== 'production'),
    webhookAllowPrivateNetworks: flag('WEBHOOK_ALLOW_PRIVATE_NETWORKS', false),
    realtime: {
      fanout: oneOf('EVENT_FANOUT', ['postgres', 'local'] as const, DEFAULT_REALTIME.fanout),
      wsConnectionsMax: integer('WS_CONNECTIONS_MAX', DEFAULT_REALTIME.wsConnectionsMax, 1, 1_000_000),
      wsSubscriptionsPerConnectionMax: integer(
        'WS_SUBSCRIPTIONS_PER_CONNECTION_MAX',
        DEFAULT_REALTIME.wsSubscriptionsPerConnectionMax,
        1,
        10_000,
      ),
      wsMessageBytesMax: integer('WS_MESSAGE_BYTES_MAX', DEFAULT_REALTIME.wsMessageBytesMax, 1024, 16_777_216),
      wsPendingEventsMax: integer('WS_PENDING_EVENTS_MAX', DEFAULT_REALTIME.wsPendingEventsMax, 1, 1_000_000),
      wsKeepAliveMs: integer('WS_KEEPALIVE_MS', DEFAULT_REALTIME.wsKeepAliveMs, 1000, 600_000),
    },
    webhookSecretKey,
    giftCardKey,
    webhooks: {
      retryScale: decimal('WEBHOOK_RETRY_SCALE', DEFAULT_WEBHOOKS.retryScale, 0.0001, 1000),
      timeoutMs: integer('WEBHOOK_TIMEOUT_MS', DEFAULT_WEBHOOKS.timeoutMs, 100, 120_000),
      rotationOverlapSeconds: integer(
        'WEBHOOK_ROTATION_OVERLAP_SECONDS',
        DEFAULT_WEBHOOKS.rotationOverlapSeconds,
        0,
        30 * 86_400,
      ),
      endpointConcurrency: integer('WEBHOOK_ENDPOINT_CONCURRENCY', DEFAULT_WEBHOOKS.endpointConcurrency, 1, 100),
      concurrency: integer('WEBHOOK_CONCURRENCY', DEFAULT_WEBHOOKS.concurrency, 1, 1_000),
      pollIntervalMs: integer('WEBHOOK_POLL_INTERVAL_MS', DEFAULT_WEBHOOKS.pollIntervalMs, 10, 600_000),
      deliveryRetentionDays: integer(
        'WEBHOOK_DELIVERY_RETENTION_DAYS',
        DEFAULT_WEBHOOKS.deliveryRetentionDays,
        1,
        3_650,
      ),
    },
  };

  if (config.databaseCitus && databaseUrl === undefined) {
    problems.push('DATABASE_CITUS=true needs DATABASE_URL: the embedded database has no Citus');
  }
  if (environment === 'production' && databaseUrl === undefined) {
    problems.push('DATABASE_URL is required when NODE_ENV=production (the embedded database is for development)');
  }
  if (environment === 'production' && adminApiKey === undefined) {
    problems.push('ADMIN_API_KEY is required when NODE_ENV=production');
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
