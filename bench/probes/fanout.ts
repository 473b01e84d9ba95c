import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { BenchContext } from '../lib/context.js';
import { RespConnection } from '../lib/resp.js';
import { DIST_DIR } from '../lib/server.js';
import { SubscriberDriver } from '../lib/subscriber-driver.js';
import { S7_BUSY, S7_RATE } from '../scenarios/s7-subscribers.js';
import type { Figures, Scenario } from '../scenarios/scenario.js';

/**
 * Probes of the cross-instance event fan-out, the two questions S7 (one instance) leaves open:
 *
 * X1: how late an event reaches a subscriber connected to another instance. A second API instance
 * starts on the same database; S7's subscriber driver opens one `balanceUpdated` subscriber on it for
 * each of S7's 1,000 busy accounts and posts transfers between them through the first instance at S7's
 * rate, so every event crosses by LISTEN/NOTIFY. Delays are measured as in S7 (event arrival − the
 * transaction's postedAt, same machine clock); compare with S7's event p50/p99 on the posting instance.
 *
 * T1: how many postings a second the transports can carry, against what the engine commits (S1, S4).
 * The server's own PgNotifyFanout (dist/) sends synthetic transfer events, in the server's wire format,
 * to a second PgNotifyFanout on another session; then the same payloads go through Redis pub/sub
 * (PUBLISH pipelined, one batch in flight like the NOTIFY sender), the alternative the design turned
 * down. Both run closed loop with at most T1_IN_FLIGHT postings sent and not yet received.
 */
const WHY = 'not measured: feature not present (graphql-ws subscriptions belong to issue 4)';
const X1_TIMING = { warmupMs: 1_000, durationMs: 3_000 };
const T1_MS = 1_000;
/** Below the fan-out's queue bound (PUBLISH_QUEUE_MAX, 10,000), so the sender never drops. */
const T1_IN_FLIGHT = 2_000;
const T1_STALL_MS_MAX = 5_000;
const T1_CHANNEL = 'bench_t1';
const REDIS_URL = new URL(process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379');

export const x1: Scenario = {
  id: 'X1',
  title: `probe: ${S7_BUSY.toLocaleString('en')} subscribers on a second instance, postings at ${S7_RATE}/s through the first (LISTEN/NOTIFY between them)`,
  phase: 'after',
  unavailable: (features) => (features.subscriptions ? null : WHY),
  async measure(ctx: BenchContext) {
    if (!ctx.startInstance) throw new Error('X1 needs a second instance, which only npm run bench starts');
    const { fixture, server } = ctx;
    const accountIds = fixture.customerIds.slice(0, Math.min(S7_BUSY, fixture.customerIds.length));
    const other = await ctx.startInstance();
    const driver = new SubscriberDriver();
    try {
      const opened = await driver.openSubscribers(other, fixture, accountIds, 120_000);
      const { result: p } = await driver.postAtRate(server, fixture, {
        busyCount: accountIds.length,
        ratePerSecond: S7_RATE,
        ...X1_TIMING,
      });
      ctx.log(
        `X1: ${opened.live} subscribers on the second instance; event after postedAt p50 ${p.fromPostedAt.p50Ms.toFixed(1)} ms p99 ${p.fromPostedAt.p99Ms.toFixed(1)} ms, ` +
          `after the HTTP response p50 ${p.fromResponse.p50Ms.toFixed(1)} ms; ${p.eventsMissed} of ${p.eventsExpected} events missed, ${p.postedFailed} postings failed`,
      );
      const figures: Figures = {
        subscribers: opened.live,
        subscribersFailed: opened.failed,
        eventP50Ms: p.fromPostedAt.p50Ms,
        eventP99Ms: p.fromPostedAt.p99Ms,
        eventMaxMs: p.fromPostedAt.maxMs,
        eventAfterResponseP50Ms: p.fromResponse.p50Ms,
        eventAfterResponseP99Ms: p.fromResponse.p99Ms,
        postingP99Ms: p.posting.p99Ms,
        postedOk: p.postedOk,
        postedFailed: p.postedFailed,
        queuedLate: p.queuedLate,
        eventsExpected: p.eventsExpected,
        eventsMissed: p.eventsMissed,
        eventsUnmatched: p.eventsUnmatched,
      };
      return { figures, detail: { opened, posted: p } };
    } finally {
      driver.stop();
      await other.stop();
    }
  },
  targets: () => [],
};

/** The parts of the server's fan-out (src/events) T1 drives, loaded from dist/ at run time. */
interface FanoutItem {
  kind: 'posting';
  posting: unknown;
}
interface Fanout {
  start(receive: (message: { items: unknown[] }) => void): Promise<void>;
  publish(item: FanoutItem): void;
  stop(): Promise<void>;
}
interface Wire {
  encodeMessages(origin: string, items: FanoutItem[]): string[];
  decodeMessage(payload: string): { items: unknown[] } | null;
}

function loadFanout(): {
  PgNotifyFanout: new (origin: string, pool: pg.Pool, logger: unknown, channel: string) => Fanout;
  wire: Wire;
} {
  return {
    PgNotifyFanout: require(path.join(DIST_DIR, 'events', 'pg-notify.fanout.js')).PgNotifyFanout,
    wire: require(path.join(DIST_DIR, 'events', 'wire.core.js')),
  };
}

/** Transfers between the fixture's customers, shaped as the engine reports them after commit. */
function syntheticTransfers(ctx: BenchContext, count: number): FanoutItem[] {
  const { rootLedgerId, assetId, customerIds } = ctx.fixture;
  const balance = (accountId: string, version: number) => ({
    rootLedgerId,
    accountId,
    assetId,
    shard: 0,
    sharded: false,
    normalBalance: 'CREDIT',
    debitsPosted: 123_456n,
    creditsPosted: 5_000_000n,
    debitsPending: 0n,
    creditsPending: 0n,
    version,
    updatedAt: new Date(),
  });
  return Array.from({ length: count }, (_, n) => {
    const from = customerIds[(2 * n) % customerIds.length]!;
    const to = customerIds[(2 * n + 1) % customerIds.length]!;
    return {
      kind: 'posting',
      posting: {
        rootLedgerId,
        transactionId: randomUUID(),
        ledgerId: rootLedgerId,
        accountLedgerIds: [rootLedgerId, rootLedgerId],
        accountIds: [from, to],
        status: 'POSTED',
        balances: [balance(from, 7 + n), balance(to, 9 + n)],
      },
    };
  });
}

interface Carried {
  postingsPerSecond: number;
  megabytesPerSecond: number;
  lost: number;
}

/**
 * Publishes for `T1_MS`, never more than T1_IN_FLIGHT ahead of what arrived, then waits for the rest;
 * the rate counts from the first publish to the last arrival.
 */
async function carry(
  items: FanoutItem[],
  bytesPerPosting: number,
  publish: (item: FanoutItem) => void,
  arrived: { count: number; wake: (() => void) | null; lastAt: number },
): Promise<Carried> {
  const started = performance.now();
  let published = 0;
  const progress = () =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), T1_STALL_MS_MAX);
      arrived.wake = () => {
        clearTimeout(timer);
        arrived.wake = null;
        resolve(true);
      };
    });
  while (performance.now() - started < T1_MS) {
    while (published - arrived.count < T1_IN_FLIGHT) publish(items[published++ % items.length]!);
    if (!(await progress())) break;
  }
  while (arrived.count < published) {
    if (!(await progress())) break;
  }
  const seconds = Math.max(arrived.lastAt - started, 1) / 1000;
  return {
    postingsPerSecond: arrived.count / seconds,
    megabytesPerSecond: (arrived.count * bytesPerPosting) / seconds / 1e6,
    lost: published - arrived.count,
  };
}

function arrivals() {
  const arrived = { count: 0, wake: null as (() => void) | null, lastAt: 0 };
  const receive = (items: number) => {
    arrived.count += items;
    arrived.lastAt = performance.now();
    arrived.wake?.();
  };
  return { arrived, receive };
}

async function overNotify(ctx: BenchContext, items: FanoutItem[], bytesPerPosting: number): Promise<Carried> {
  const { PgNotifyFanout } = loadFanout();
  const logger = {
    debug() {},
    info() {},
    warn: (message: string) => ctx.log(`T1: ${message}`),
    error: (message: string) => ctx.log(`T1: ${message}`),
  };
  const pools = [0, 1].map(() => new pg.Pool({ connectionString: ctx.databaseUrl, max: 1 }));
  const sender = new PgNotifyFanout('bench-t1-sender', pools[0]!, logger, T1_CHANNEL);
  const receiver = new PgNotifyFanout('bench-t1-receiver', pools[1]!, logger, T1_CHANNEL);
  const { arrived, receive } = arrivals();
  try {
    // The sender is not started: an instance's own listener would also decode its own payloads, which
    // the Redis side below does not do either.
    await receiver.start((message) => receive(message.items.length));
    return await carry(items, bytesPerPosting, (item) => sender.publish(item), arrived);
  } finally {
    await sender.stop();
    await receiver.stop();
    await Promise.all(pools.map((pool) => pool.end()));
  }
}

/** The same sender as PgNotifyFanout's (a queue, one batch in flight, the wire format's payloads), over PUBLISH. */
async function overRedis(items: FanoutItem[], bytesPerPosting: number): Promise<Carried> {
  const { wire } = loadFanout();
  const [publisher, subscriber] = await Promise.all([RespConnection.open(REDIS_URL), RespConnection.open(REDIS_URL)]);
  const { arrived, receive } = arrivals();
  try {
    subscriber.onMessage = (_channel, payload) => receive(wire.decodeMessage(payload)?.items.length ?? 0);
    await subscriber.pipeline([['SUBSCRIBE', T1_CHANNEL]]);
    let queue: FanoutItem[] = [];
    let sending = false;
    const drain = async () => {
      while (queue.length > 0) {
        const batch = queue;
        queue = [];
        const replies = await publisher.pipeline(
          wire.encodeMessages('bench-t1-sender', batch).map((payload) => ['PUBLISH', T1_CHANNEL, payload]),
        );
        const failed = replies.find((reply) => reply instanceof Error);
        if (failed) throw failed;
      }
      sending = false;
    };
    let failure: unknown = null;
    const result = await carry(
      items,
      bytesPerPosting,
      (item) => {
        queue.push(item);
        if (!sending) {
          sending = true;
          setImmediate(() => drain().catch((error) => (failure = error)));
        }
      },
      arrived,
    );
    if (failure) throw failure;
    return result;
  } finally {
    publisher.close();
    subscriber.close();
  }
}

export const t1: Scenario = {
  id: 'T1',
  title: `probe: transfer events between two sessions, the server's PgNotifyFanout against Redis PUBLISH/SUBSCRIBE (${T1_MS / 1000} s each, ≤ ${T1_IN_FLIGHT.toLocaleString('en')} in flight)`,
  phase: 'after',
  async measure(ctx: BenchContext) {
    const { wire } = loadFanout();
    const items = syntheticTransfers(ctx, 1_000);
    const payloads = wire.encodeMessages('bench-t1-sender', items);
    const payloadBytes = payloads.reduce((sum, payload) => sum + Buffer.byteLength(payload), 0);
    const bytesPerPosting = payloadBytes / items.length;
    const notify = await overNotify(ctx, items, bytesPerPosting);
    let redis: Carried = { postingsPerSecond: NaN, megabytesPerSecond: NaN, lost: NaN };
    try {
      redis = await overRedis(items, bytesPerPosting);
    } catch (error) {
      ctx.log(`T1: Redis at ${REDIS_URL.host} not measured: ${(error as Error).message}`);
    }
    ctx.log(
      `T1: NOTIFY ${notify.postingsPerSecond.toFixed(0)} postings/s (${notify.megabytesPerSecond.toFixed(1)} MB/s, ${notify.lost} lost), ` +
        `Redis ${redis.postingsPerSecond.toFixed(0)} postings/s (${redis.megabytesPerSecond.toFixed(1)} MB/s, ${redis.lost} lost); ${(items.length / payloads.length).toFixed(1)} postings per payload`,
    );
    return {
      figures: {
        notifyPostingsPerSecond: notify.postingsPerSecond,
        notifyMegabytesPerSecond: notify.megabytesPerSecond,
        notifyLost: notify.lost,
        redisPostingsPerSecond: redis.postingsPerSecond,
        redisMegabytesPerSecond: redis.megabytesPerSecond,
        redisLost: redis.lost,
        postingsPerPayload: items.length / payloads.length,
        bytesPerPosting,
      },
    };
  },
  targets: () => [],
};
