import { readFileSync } from 'node:fs';
import { limitRow, loadFigures, notMeasuredRow, ratioRow, type Figures, type Scenario } from './scenario.js';
import { transferSpec } from './s1-transfer.js';
import type { BenchContext } from '../lib/context.js';
import { SubscriberDriver, type SubscriberReply } from '../lib/subscriber-driver.js';

/**
 * S7: 10,000 concurrent graphql-ws subscribers on one instance, 1,000 of them watching busy accounts at
 * 500 postings/s; targets: server RSS ≤ 512 MB, commit→client p99 ≤ 50 ms, S1 with 1,000 subscribers
 * ≥ 0.9× S1 without.
 *
 * Each round: a second driver process (lib/subscriber-driver.ts) opens 10,000 sockets, one
 * `balanceUpdated(accountId, asset, includeCurrent: true)` subscription each on a distinct customer (a
 * subscriber counts once its first event, the current balance, arrived); the same process then posts
 * transfers between the 1,000 busy accounts at a fixed 500/s (open loop) while the orchestrator samples
 * the server's VmRSS; each posting changes two watched balances. Commit → client is the event's arrival
 * (wall clock of the subscriber process) minus the transaction's `postedAt` from the response (the
 * server's wall clock, ms resolution, set just before the posting's transaction: an upper bound that
 * includes the write and the commit; both processes read the same machine clock). Also recorded: event
 * arrival − HTTP response arrival (same process; negative when the event comes first, as it usually
 * does) and event arrival − intended send time. Then 9,000 sockets close and S1 runs with the 1,000 left open (about one transfer in five
 * touches a watched account), then all close and S1 runs again without subscribers, back to back.
 * The server runs with WS_CONNECTIONS_MAX=11000 (run.ts) for headroom over the default 10,000.
 */
const WHY = 'not measured: feature not present (graphql-ws subscriptions belong to issue 4)';
export const S7_SUBSCRIBERS = 10_000;
export const S7_BUSY = 1_000;
export const S7_RATE = 500;
const RSS_SAMPLE_MS = 200;

function vmRssMb(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

async function measure(ctx: BenchContext) {
  const { server, fixture } = ctx;
  const count = Math.min(S7_SUBSCRIBERS, fixture.customerIds.length);
  const accountIds = fixture.customerIds.slice(0, count);
  const rssIdleMb = vmRssMb(server.pid);
  const driver = new SubscriberDriver();
  try {
    const opened = await driver.openSubscribers(server, fixture, accountIds, 180_000);
    ctx.log(
      `S7: ${opened.live} of ${count} subscribers live in ${(opened.ms / 1000).toFixed(1)} s (${opened.failed} failed${opened.failureSamples.length ? `: ${opened.failureSamples[0]}` : ''}); subscriber driver RSS ${opened.rssMb.toFixed(0)} MB`,
    );

    // The server's RSS with every socket open, idle and then under the posting load.
    let rssMaxMb = vmRssMb(server.pid);
    const rssOpenedMb = rssMaxMb;
    const sampler = setInterval(() => {
      rssMaxMb = Math.max(rssMaxMb, vmRssMb(server.pid));
    }, RSS_SAMPLE_MS);
    let posted: Extract<SubscriberReply, { type: 'posted' }>;
    try {
      posted = await driver.postAtRate(server, fixture, {
        busyCount: Math.min(S7_BUSY, count),
        ratePerSecond: S7_RATE,
        warmupMs: ctx.timing.warmupMs,
        durationMs: ctx.timing.durationMs,
      });
    } finally {
      clearInterval(sampler);
    }
    rssMaxMb = Math.max(rssMaxMb, vmRssMb(server.pid));
    const p = posted.result;
    ctx.log(
      `S7: server RSS ${rssIdleMb.toFixed(0)} MB idle, ${rssOpenedMb.toFixed(0)} MB with ${opened.live} subscribers, max ${rssMaxMb.toFixed(0)} MB at ${S7_RATE} postings/s; ` +
        `event after postedAt p50 ${p.fromPostedAt.p50Ms.toFixed(1)} ms p99 ${p.fromPostedAt.p99Ms.toFixed(1)} ms, after the HTTP response p50 ${p.fromResponse.p50Ms.toFixed(1)} ms p99 ${p.fromResponse.p99Ms.toFixed(1)} ms, after intended send p99 ${p.fromSend.p99Ms.toFixed(1)} ms; ` +
        `${p.postedOk} ok / ${p.postedFailed} failed postings, ${p.eventsMissed} of ${p.eventsExpected} events missed, ${p.eventsUnmatched} unmatched` +
        (p.failureSamples.length ? `; e.g. ${p.failureSamples[0]}` : ''),
    );

    // S1 with 1,000 subscribers (the busy ones), then without any, back to back.
    await driver.ask({ type: 'close', keep: Math.min(S7_BUSY, count) }, 'closed', 60_000);
    const eventsBefore = (await driver.ask({ type: 'events' }, 'events', 10_000)).count;
    const withRun = loadFigures(await ctx.drive(transferSpec(ctx)));
    const eventsDuring = (await driver.ask({ type: 'events' }, 'events', 10_000)).count - eventsBefore;
    await driver.ask({ type: 'close', keep: 0 }, 'closed', 60_000);
    const withoutRun = loadFigures(await ctx.drive(transferSpec(ctx)));
    ctx.log(
      `S7: S1 with ${Math.min(S7_BUSY, count)} subscribers ${withRun.throughput!.toFixed(0)}/s (${eventsDuring} events delivered), without ${withoutRun.throughput!.toFixed(0)}/s: ` +
        `${(withRun.throughput! / withoutRun.throughput!).toFixed(2)}×`,
    );

    const figures: Figures = {
      subscribers: opened.live,
      subscribersFailed: opened.failed,
      openSeconds: opened.ms / 1000,
      rssIdleMb,
      rssOpenedMb,
      rssMaxMb,
      subscriberDriverRssMb: opened.rssMb,
      eventP50Ms: p.fromPostedAt.p50Ms,
      eventP99Ms: p.fromPostedAt.p99Ms,
      eventMaxMs: p.fromPostedAt.maxMs,
      eventAfterResponseP50Ms: p.fromResponse.p50Ms,
      eventAfterResponseP99Ms: p.fromResponse.p99Ms,
      eventFromSendP50Ms: p.fromSend.p50Ms,
      eventFromSendP99Ms: p.fromSend.p99Ms,
      postingP99Ms: p.posting.p99Ms,
      postedOk: p.postedOk,
      postedFailed: p.postedFailed,
      queuedLate: p.queuedLate,
      eventsExpected: p.eventsExpected,
      eventsMissed: p.eventsMissed,
      eventsUnmatched: p.eventsUnmatched,
      s1WithSubscribers: withRun.throughput!,
      s1WithoutSubscribers: withoutRun.throughput!,
      s1Ratio: withRun.throughput! / withoutRun.throughput!,
      eventsDuringS1: eventsDuring,
    };
    return { figures, detail: { opened, posted: p, s1With: withRun, s1Without: withoutRun } };
  } finally {
    driver.stop();
  }
}

export const s7: Scenario = {
  id: 'S7',
  title: `${S7_SUBSCRIBERS.toLocaleString('en')} graphql-ws subscribers, ${S7_BUSY.toLocaleString('en')} on busy accounts at ${S7_RATE} postings/s`,
  phase: 'after',
  unavailable: (features) => (features.subscriptions ? null : WHY),
  measure,
  targets: (all) =>
    all.S7 === undefined
      ? [
          notMeasuredRow('S7', 'server RSS with 10,000 subscribers', '≤ 512 MB', WHY),
          notMeasuredRow('S7', 'commit → client p99', '≤ 50 ms', WHY),
          notMeasuredRow('S7', 'S1 with 1,000 subscribers ÷ S1 without', '≥ 0.9×', WHY),
        ]
      : [
          limitRow({
            scenario: 'S7',
            figure: `server RSS (max VmRSS) with ${all.S7.subscribers} subscribers at ${S7_RATE} postings/s`,
            value: all.S7.rssMaxMb,
            unit: 'MB',
            atMost: 512,
            note: `idle before the sockets: ${all.S7.rssIdleMb?.toFixed(0)} MB; ${all.S7.subscribersFailed} subscribers failed to open`,
          }),
          limitRow({
            scenario: 'S7',
            figure: `commit → client p99 (event arrival − transaction postedAt, taken before its commit; same clock)`,
            value: all.S7.eventP99Ms,
            unit: 'ms',
            atMost: 50,
            note: `p50 ${all.S7.eventP50Ms?.toFixed(1)} ms; event − HTTP response p99 ${all.S7.eventAfterResponseP99Ms?.toFixed(1)} ms (negative: the event arrives first); from intended send p99 ${all.S7.eventFromSendP99Ms?.toFixed(1)} ms; events missed ${all.S7.eventsMissed} of ${all.S7.eventsExpected}`,
          }),
          ratioRow({
            scenario: 'S7',
            figure: 'S1 with 1,000 subscribers ÷ S1 without (back to back)',
            value: all.S7.s1WithSubscribers,
            unit: '/s',
            reference: 'S1 without subscribers, same round',
            referenceValue: all.S7.s1WithoutSubscribers,
            atLeast: 0.9,
          }),
        ],
};
