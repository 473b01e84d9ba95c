import { randomBytes } from 'node:crypto';
import { RedisClient } from '../src/platform/redis-client';
import { parseRedisUrl } from '../src/platform/resp.core';
import { cloneTestDatabase } from './support/databases';
import { errorCode, ok, startTestServer, type TestServer } from './support/server';
import { freePort } from './support/global-setup';

/**
 * Rate limits per credential across API instances: with REDIS_URL (the machine's Redis on 127.0.0.1:6379)
 * two servers draw on one bucket per credential; without it, or while Redis is away, each server keeps its
 * own. The rate is 1 per second and the burst 6, so a refill during one test's few requests adds at most one.
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const VIEWER = '{ viewer { role } }';

let database: { url: string; drop(): Promise<void> };
const servers: TestServer[] = [];

beforeAll(async () => {
  database = await cloneTestDatabase();
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

afterAll(async () => {
  await database.drop();
});

async function instance(redis?: { url: string; keyPrefix: string }, logLines?: string[]): Promise<TestServer> {
  const server = await startTestServer({
    database: { url: database.url, drop: async () => {} },
    rateLimitPerSecond: 1,
    rateLimitBurst: 6,
    redis,
    logLines,
  });
  servers.push(server);
  return server;
}

/** How many of `count` requests a server answered before RATE_LIMITED, and whether it then refused. */
async function allowed(server: TestServer, count: number): Promise<number> {
  let answered = 0;
  for (let index = 0; index < count; index += 1) {
    const response = await server.gql(VIEWER);
    if (response.errors === undefined) answered += 1;
    else expect(errorCode(response)).toBe('RATE_LIMITED');
  }
  return answered;
}

it('shares one bucket per credential between instances when REDIS_URL is set', async () => {
  const keyPrefix = `rl-test:${randomBytes(6).toString('hex')}:`;
  const [a, b] = [await instance({ url: REDIS_URL, keyPrefix }), await instance({ url: REDIS_URL, keyPrefix })];
  for (let index = 0; index < 3; index += 1) {
    ok(await a.gql(VIEWER));
    ok(await b.gql(VIEWER));
  }
  // Six taken across both instances: the burst is spent for either (at most one refilled meanwhile).
  const more = (await allowed(a, 2)) + (await allowed(b, 2));
  expect(more).toBeLessThanOrEqual(1);
  const refused = await a.gql(VIEWER);
  expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryable: true });

  // The bucket lives in Redis under the prefix, and expires by itself.
  const redis = new RedisClient(parseRedisUrl(REDIS_URL), 1_000);
  try {
    const keys = (await redis.command(['KEYS', `${keyPrefix}*`])) as string[];
    expect(keys).toHaveLength(1);
    expect(await redis.command(['PTTL', keys[0]!])).toBeGreaterThan(0);
    await redis.command(['DEL', keys[0]!]);
  } finally {
    await redis.close();
  }
});

it('keeps a bucket per instance without REDIS_URL', async () => {
  const [a, b] = [await instance(), await instance()];
  expect(await allowed(a, 6)).toBe(6);
  expect(await allowed(b, 6)).toBe(6);
  expect(await allowed(a, 2)).toBeLessThanOrEqual(1);
});

it('falls back to per-instance buckets, and says so, while Redis is unreachable', async () => {
  const lines: string[] = [];
  const nowhere = `redis://127.0.0.1:${await freePort()}`;
  const a = await instance({ url: nowhere, keyPrefix: 'rl-test-nowhere:' }, lines);
  expect(await allowed(a, 6)).toBe(6);
  expect(await allowed(a, 2)).toBeLessThanOrEqual(1);
  expect(lines.filter((line) => line.includes('Redis is unreachable'))).toHaveLength(1);
});
