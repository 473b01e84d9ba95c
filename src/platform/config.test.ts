import { availableParallelism } from 'node:os';
import { ConfigError, DEFAULT_REALTIME, DEFAULT_WEBHOOKS, loadConfig, WEB_CONCURRENCY_MAX } from './config';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    return (error as ConfigError).problems;
  }
}

describe('real-time, token and GraphiQL settings', () => {
  it('defaults to LISTEN/NOTIFY fan-out, the documented limits, GraphiQL on and no token key', () => {
    const config = loadConfig({});
    expect(config.realtime).toEqual(DEFAULT_REALTIME);
    expect(config.graphiql).toBe(true);
    expect(config.tokenSecret).toBeUndefined();
  });

  it('turns GraphiQL off by default in production, and on when asked', () => {
    const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/x', ADMIN_API_KEY: 'a'.repeat(32) };
    expect(loadConfig(production).graphiql).toBe(false);
    expect(loadConfig({ ...production, GRAPHIQL: 'true' }).graphiql).toBe(true);
  });

  it('reads every limit', () => {
    const config = loadConfig({
      EVENT_FANOUT: 'local',
      WS_CONNECTIONS_MAX: '5',
      WS_SUBSCRIPTIONS_PER_CONNECTION_MAX: '6',
      WS_MESSAGE_BYTES_MAX: '2048',
      WS_PENDING_EVENTS_MAX: '7',
      WS_KEEPALIVE_MS: '5000',
      TOKEN_SECRET: 's'.repeat(32),
    });
    expect(config.realtime).toEqual({
      fanout: 'local',
      wsConnectionsMax: 5,
      wsSubscriptionsPerConnectionMax: 6,
      wsMessageBytesMax: 2048,
      wsPendingEventsMax: 7,
      wsKeepAliveMs: 5000,
    });
    expect(config.tokenSecret).toBe('s'.repeat(32));
  });

  it('names every bad value', () => {
    expect(
      problems({
        TOKEN_SECRET: 'short',
        GRAPHIQL: 'yes',
        EVENT_FANOUT: 'redis',
        WS_MESSAGE_BYTES_MAX: '10',
        WS_KEEPALIVE_MS: '0',
        WS_PENDING_EVENTS_MAX: 'many',
      }),
    ).toEqual([
      'TOKEN_SECRET must be 32 to 512 characters without whitespace',
      'GRAPHIQL must be true or false; got "yes"',
      'EVENT_FANOUT must be one of postgres, local; got "redis"',
      'WS_MESSAGE_BYTES_MAX must be an integer from 1024 to 16777216; got "10"',
      'WS_PENDING_EVENTS_MAX must be an integer from 1 to 1000000; got "many"',
      'WS_KEEPALIVE_MS must be an integer from 1000 to 600000; got "0"',
    ]);
  });
});

describe('webhook target safety', () => {
  it('refuses private networks unless WEBHOOK_ALLOW_PRIVATE_NETWORKS=true, in every environment', () => {
    expect(loadConfig({}).webhookAllowPrivateNetworks).toBe(false);
    expect(loadConfig({ NODE_ENV: 'test' }).webhookAllowPrivateNetworks).toBe(false);
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' }).webhookAllowPrivateNetworks).toBe(false);
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }).webhookAllowPrivateNetworks).toBe(true);
    expect(problems({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: '1' })).toEqual([
      'WEBHOOK_ALLOW_PRIVATE_NETWORKS must be true or false; got "1"',
    ]);
  });
});

describe('webhook delivery settings', () => {
  it('defaults to the published schedule, 10 s attempts, a day of rotation overlap and no key', () => {
    const config = loadConfig({});
    expect(config.webhooks).toEqual(DEFAULT_WEBHOOKS);
    expect(DEFAULT_WEBHOOKS).toMatchObject({ retryScale: 1, timeoutMs: 10_000, rotationOverlapSeconds: 86_400 });
    expect(config.webhookSecretKey).toBeUndefined();
  });

  it('reads every webhook setting, a fractional retry scale included', () => {
    const config = loadConfig({
      WEBHOOK_SECRET_KEY: 'w'.repeat(32),
      WEBHOOK_RETRY_SCALE: '0.001',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_ROTATION_OVERLAP_SECONDS: '60',
      WEBHOOK_ENDPOINT_CONCURRENCY: '2',
      WEBHOOK_CONCURRENCY: '8',
      WEBHOOK_POLL_INTERVAL_MS: '100',
      WEBHOOK_DELIVERY_RETENTION_DAYS: '7',
    });
    expect(config.webhookSecretKey).toBe('w'.repeat(32));
    expect(config.webhooks).toEqual({
      retryScale: 0.001,
      timeoutMs: 2000,
      rotationOverlapSeconds: 60,
      endpointConcurrency: 2,
      concurrency: 8,
      pollIntervalMs: 100,
      deliveryRetentionDays: 7,
    });
  });

  it('names every bad webhook value', () => {
    expect(
      problems({
        WEBHOOK_SECRET_KEY: 'short',
        WEBHOOK_RETRY_SCALE: '1e-3',
        WEBHOOK_TIMEOUT_MS: '10',
        WEBHOOK_ENDPOINT_CONCURRENCY: '0',
      }),
    ).toEqual([
      'WEBHOOK_SECRET_KEY must be 32 to 512 characters without whitespace',
      'WEBHOOK_RETRY_SCALE must be a number from 0.0001 to 1000; got "1e-3"',
      'WEBHOOK_TIMEOUT_MS must be an integer from 100 to 120000; got "10"',
      'WEBHOOK_ENDPOINT_CONCURRENCY must be an integer from 1 to 100; got "0"',
    ]);
  });
});

describe('the gift card key', () => {
  it('is read from GIFT_CARD_KEY and absent by default', () => {
    expect(loadConfig({}).giftCardKey).toBeUndefined();
    expect(loadConfig({ GIFT_CARD_KEY: 'g'.repeat(32) }).giftCardKey).toBe('g'.repeat(32));
  });

  it('refuses a key shorter than 32 characters or with whitespace', () => {
    expect(problems({ GIFT_CARD_KEY: 'short' })).toEqual([
      'GIFT_CARD_KEY must be 32 to 512 characters without whitespace',
    ]);
    expect(problems({ GIFT_CARD_KEY: `${'g'.repeat(32)} x` })).toEqual([
      'GIFT_CARD_KEY must be 32 to 512 characters without whitespace',
    ]);
  });
});

describe('DATABASE_URL', () => {
  it('accepts a host list and keeps it as given', () => {
    const url = 'postgresql://app@10.0.0.1:5432,10.0.0.2:5432/ledger?target_session_attrs=read-write';
    expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
  });

  it('refuses a malformed host list at start-up, naming the problem', () => {
    expect(problems({ DATABASE_URL: 'postgresql://h1:5432,,h2:5432/ledger' })).toEqual([
      'DATABASE_URL: host 2 of the host list is empty',
    ]);
    expect(problems({ DATABASE_URL: 'postgresql://h1:5432,h2:5432/ledger?target_session_attrs=standby' })).toEqual([
      "DATABASE_URL: target_session_attrs=standby selects a standby, which cannot take the ledger's writes; use read-write",
    ]);
  });
});

describe('DATABASE_READ_URL', () => {
  it('is optional, and takes a host list of replicas', () => {
    expect(loadConfig({}).databaseReadUrl).toBeUndefined();
    const url = 'postgresql://app@10.0.0.3:5432,10.0.0.4:5432/ledger?target_session_attrs=standby';
    const config = loadConfig({ DATABASE_URL: 'postgresql://app@10.0.0.1/ledger', DATABASE_READ_URL: url });
    expect(config).toMatchObject({ databaseReadUrl: url, databaseReadMaxWaitMs: 100 });
  });

  it('refuses a malformed one, one without DATABASE_URL, and a wait out of range', () => {
    expect(
      problems({ DATABASE_URL: 'postgresql://db/ledger', DATABASE_READ_URL: 'postgresql://r1:5432,,r2:5432/ledger' }),
    ).toEqual(['DATABASE_READ_URL: host 2 of the host list is empty']);
    expect(problems({ DATABASE_READ_URL: 'postgresql://r1/ledger' })).toEqual([
      'DATABASE_READ_URL needs DATABASE_URL: the embedded database has no replicas',
    ]);
    expect(problems({ DATABASE_READ_URL: 'mysql://r1/ledger', DATABASE_URL: 'postgresql://db/ledger' })).toEqual([
      'DATABASE_READ_URL must be a postgres:// or postgresql:// connection string',
    ]);
    expect(problems({ DATABASE_READ_MAX_WAIT_MS: '20000' })).toHaveLength(1);
  });
});

describe('REDIS_URL', () => {
  it('is optional, and read with its key prefix when given', () => {
    expect(loadConfig({}).redisUrl).toBeUndefined();
    const config = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379/1', REDIS_KEY_PREFIX: 'rl:' });
    expect(config).toMatchObject({ redisUrl: 'redis://127.0.0.1:6379/1', redisKeyPrefix: 'rl:' });
  });

  it('refuses what the server cannot connect to at start-up, naming the problem', () => {
    expect(problems({ REDIS_URL: 'rediss://cache:6380' })).toEqual(['REDIS_URL: rediss:// (TLS) is not supported']);
    expect(problems({ REDIS_URL: 'cache:6379' })).toEqual(['REDIS_URL must be redis://host[:port][/db]']);
    expect(problems({ REDIS_URL: 'redis://cache', REDIS_KEY_PREFIX: 'has space' })).toEqual([
      'REDIS_KEY_PREFIX must be at most 64 characters without whitespace',
    ]);
  });
});

describe('WEB_CONCURRENCY', () => {
  it('defaults to one worker per core, and 1 turns workers off', () => {
    expect(loadConfig({}).webConcurrency).toBe(Math.min(availableParallelism(), WEB_CONCURRENCY_MAX));
    expect(loadConfig({ WEB_CONCURRENCY: '1' }).webConcurrency).toBe(1);
    expect(loadConfig({ WEB_CONCURRENCY: String(WEB_CONCURRENCY_MAX) }).webConcurrency).toBe(WEB_CONCURRENCY_MAX);
  });

  it('refuses anything but a whole number of workers up to the maximum', () => {
    for (const raw of ['0', '-1', '1.5', 'auto', String(WEB_CONCURRENCY_MAX + 1)]) {
      expect(problems({ WEB_CONCURRENCY: raw })).toEqual([
        `WEB_CONCURRENCY must be an integer from 1 to ${WEB_CONCURRENCY_MAX}; got ${JSON.stringify(raw)}`,
      ]);
    }
  });
});

describe('DATABASE_CITUS', () => {
  it('is off by default and on with DATABASE_CITUS=true', () => {
    expect(loadConfig({}).databaseCitus).toBe(false);
    expect(
      loadConfig({ DATABASE_URL: 'postgresql://app@coordinator/ledger', DATABASE_CITUS: 'true' }).databaseCitus,
    ).toBe(true);
  });

  it('refuses a value other than true or false, and Citus without DATABASE_URL', () => {
    expect(problems({ DATABASE_URL: 'postgresql://db/ledger', DATABASE_CITUS: '1' })).toEqual([
      'DATABASE_CITUS must be true or false; got "1"',
    ]);
    expect(problems({ DATABASE_CITUS: 'true' })).toEqual([
      'DATABASE_CITUS=true needs DATABASE_URL: the embedded database has no Citus',
    ]);
  });
});
