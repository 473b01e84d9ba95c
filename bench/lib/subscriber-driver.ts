/**
 * The subscriber driver (S7, X1): a separate process, forked by the orchestrator, that holds the
 * WebSocket subscribers and posts the transfers whose events they wait for, so that a posting's HTTP
 * response and the event it causes are timed on one clock. It speaks `graphql-transport-ws` itself
 * over `ws` (connection_init → connection_ack → subscribe → next…): one socket per subscriber, one
 * `balanceUpdated` subscription per socket, far lighter than one graphql-ws client each.
 *
 * Latency matching: the posting loop never sends a transfer touching an account that has one in
 * flight, so the postings of one account commit in the order they were sent, and the k-th event of
 * an account after its first (includeCurrent) one belongs to the k-th successful posting touching it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { classify } from './driver.js';
import type { Fixture } from './context.js';
import { KeepAliveConnection, type Endpoint } from './http-client.js';
import { rng, summarize, type LatencySummary } from './stats.js';

export type SubscriberCommand =
  | {
      type: 'open';
      url: string;
      authorization: string;
      asset: string;
      accountIds: string[];
      concurrency: number;
      timeoutMs: number;
    }
  | {
      type: 'post';
      endpoint: Endpoint;
      asset: string;
      busyCount: number;
      ratePerSecond: number;
      connections: number;
      warmupMs: number;
      durationMs: number;
      drainMs: number;
      seed: number;
    }
  | { type: 'close'; keep: number }
  | { type: 'events' }
  | { type: 'exit' };

export interface PostResult {
  offered: number;
  postedOk: number;
  postedFailed: number;
  /** Postings intended inside the measured window that could not be sent on time (every connection busy, or no idle pair). */
  queuedLate: number;
  /** Event arrival (wall clock) minus the transaction's postedAt (server wall clock, ms resolution, same machine). */
  fromPostedAt: LatencySummary;
  /** Event arrival minus the posting's HTTP response arrival (negative: the event came first). */
  fromResponse: LatencySummary;
  /** Event arrival minus the posting's intended send time (an upper bound of commit → client). */
  fromSend: LatencySummary;
  /** Posting latency (intended send → response). */
  posting: LatencySummary;
  eventsExpected: number;
  eventsMissed: number;
  eventsUnmatched: number;
  failureSamples: string[];
}

export type SubscriberReply =
  | { type: 'opened'; live: number; failed: number; ms: number; failureSamples: string[]; rssMb: number }
  | { type: 'posted'; result: PostResult }
  | { type: 'closed'; open: number }
  | { type: 'events'; count: number }
  | { type: 'error'; message: string };

interface PostingRecord {
  intendedAt: number;
  respondedAt: number;
  /** The transaction's postedAt (server wall clock, ms), from the response. */
  postedAtMs: number;
  ok: boolean;
  /** Event arrival per side (from, to); NaN until it comes. */
  eventAt: [number, number];
}

interface Subscriber {
  socket: WebSocket;
  live: boolean;
}

const subscribers: Subscriber[] = [];
/** Matching state per subscriber index (busy accounts only, during the post phase). */
let queues: Array<Array<{ record: PostingRecord; side: 0 | 1 }>> | null = null;
let eventsTotal = 0;
let eventsUnmatched = 0;

function reply(message: SubscriberReply): void {
  process.send?.(message);
}

function rssMb(): number {
  return process.memoryUsage().rss / 1048576;
}

function onEvent(index: number): void {
  eventsTotal += 1;
  if (queues === null || index >= queues.length) return;
  const waiting = queues[index]!.shift();
  if (waiting === undefined) {
    eventsUnmatched += 1;
    return;
  }
  waiting.record.eventAt[waiting.side] = performance.now();
}

function openOne(
  index: number,
  command: Extract<SubscriberCommand, { type: 'open' }>,
  query: string,
): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = new WebSocket(command.url, 'graphql-transport-ws', { perMessageDeflate: false });
    const subscriber: Subscriber = { socket, live: false };
    subscribers[index] = subscriber;
    let settled = false;
    const settle = (failure: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(failure);
    };
    const timer = setTimeout(() => {
      settle('timed out before the first event');
      socket.terminate();
    }, command.timeoutMs);
    socket.on('open', () =>
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: command.authorization } })),
    );
    socket.on('message', (data: Buffer) => {
      const text = data.toString();
      // The hot path: `next` carrying a balance. Anything else is parsed.
      if (subscriber.live && text.startsWith('{"id":"1","type":"next"')) return onEvent(index);
      const message = JSON.parse(text) as { type: string; payload?: unknown };
      if (message.type === 'connection_ack') {
        socket.send(
          JSON.stringify({
            id: '1',
            type: 'subscribe',
            payload: { query, variables: { a: command.accountIds[index] } },
          }),
        );
      } else if (message.type === 'next') {
        if (subscriber.live) return onEvent(index);
        // The first `next` is the current balance (includeCurrent): the subscription is live.
        subscriber.live = true;
        settle(null);
      } else if (message.type === 'ping') {
        socket.send('{"type":"pong"}');
      } else if (message.type === 'error' || message.type === 'complete') {
        settle(`${message.type}: ${JSON.stringify(message.payload ?? null).slice(0, 300)}`);
      }
    });
    socket.on('error', (error) => settle(`socket error: ${error.message}`));
    socket.on('close', (code, reason) => {
      subscriber.live = false;
      settle(`closed ${code} ${reason.toString()}`);
    });
  });
}

async function open(command: Extract<SubscriberCommand, { type: 'open' }>): Promise<void> {
  const started = performance.now();
  const query = `subscription($a: ID!) { balanceUpdated(accountId: $a, asset: ${JSON.stringify(command.asset)}, includeCurrent: true) { version available } }`;
  let next = 0;
  let live = 0;
  let failed = 0;
  const failureSamples: string[] = [];
  const worker = async () => {
    while (next < command.accountIds.length) {
      const failure = await openOne(next++, command, query);
      if (failure === null) live += 1;
      else {
        failed += 1;
        if (failureSamples.length < 3) failureSamples.push(failure);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(command.concurrency, command.accountIds.length) }, worker));
  reply({ type: 'opened', live, failed, ms: performance.now() - started, failureSamples, rssMb: rssMb() });
}

const TRANSFER = JSON.stringify(
  'mutation Transfer($input: TransferInput!) { transfer(input: $input) { replayed transaction { id postedAt } } }',
);
const POSTED_AT = /"postedAt":"([^"]+)"/;

/** Open-loop transfers between busy accounts (subscriber indexes 0..busyCount-1), never two in flight on one account. */
async function post(command: Extract<SubscriberCommand, { type: 'post' }>): Promise<void> {
  const accountIds = subscriberAccountIds;
  const busy = command.busyCount;
  queues = Array.from({ length: busy }, () => []);
  eventsUnmatched = 0;
  const random = rng(command.seed);
  const prefix = `s7-${command.seed}-${Date.now()}`;
  const free = await Promise.all(
    Array.from({ length: command.connections }, () => KeepAliveConnection.open(command.endpoint)),
  );
  const all = [...free];
  const inFlight = new Set<number>();
  const records: PostingRecord[] = [];
  const failureSamples: string[] = [];
  const backlog: number[] = [];
  let sequence = 0;
  let keys = 0;
  let postedOk = 0;
  let postedFailed = 0;
  let queuedLate = 0;
  let pending = 0;
  let failure: Error | null = null;
  const start = performance.now();
  const measureStart = start + command.warmupMs;
  const end = measureStart + command.durationMs;
  const intervalMs = 1000 / command.ratePerSecond;

  const pickPair = (): [number, number] | null => {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const from = Math.floor(random() * busy);
      let to = Math.floor(random() * (busy - 1));
      if (to >= from) to += 1;
      if (!inFlight.has(from) && !inFlight.has(to)) return [from, to];
    }
    return null;
  };

  const dispatch = (connection: KeepAliveConnection, intendedAt: number): boolean => {
    const pair = pickPair();
    if (pair === null) return false;
    const [from, to] = pair;
    inFlight.add(from);
    inFlight.add(to);
    const record: PostingRecord = { intendedAt, respondedAt: NaN, postedAtMs: NaN, ok: false, eventAt: [NaN, NaN] };
    const fromEntry = { record, side: 0 as const };
    const toEntry = { record, side: 1 as const };
    queues![from]!.push(fromEntry);
    queues![to]!.push(toEntry);
    const amount = 1 + Math.floor(random() * 100);
    const body = `{"query":${TRANSFER},"variables":{"input":{"fromAccountId":"${accountIds[from]}","toAccountId":"${accountIds[to]}","asset":"${command.asset}","amount":"${amount}","idempotencyKey":"${prefix}-${keys++}"}}}`;
    pending += 1;
    connection.post(body).then(
      (response) => {
        pending -= 1;
        record.respondedAt = performance.now();
        const outcome = classify(response);
        record.ok = outcome === 'OK';
        if (record.ok) {
          postedOk += 1;
          const postedAt = POSTED_AT.exec(response.body.toString('utf8'));
          record.postedAtMs = postedAt ? Date.parse(postedAt[1]!) : NaN;
        } else {
          postedFailed += 1;
          if (failureSamples.length < 3) failureSamples.push(`${outcome}: ${response.body.toString('utf8', 0, 300)}`);
          // No event will come for a failed posting: take it out of the queues.
          for (const [index, entry] of [
            [from, fromEntry],
            [to, toEntry],
          ] as const) {
            const queue = queues![index]!;
            const at = queue.indexOf(entry);
            if (at >= 0) queue.splice(at, 1);
          }
        }
        records.push(record);
        inFlight.delete(from);
        inFlight.delete(to);
        const waiting = backlog.shift();
        if (waiting === undefined || !dispatch(connection, waiting)) {
          if (waiting !== undefined) backlog.unshift(waiting);
          free.push(connection);
        }
      },
      (error: Error) => {
        pending -= 1;
        failure = error;
      },
    );
    return true;
  };

  /** Sends waiting postings on free connections, oldest first, until either runs out or a pair is busy. */
  const retryBacklog = () => {
    while (backlog.length > 0 && free.length > 0) {
      const connection = free.pop()!;
      if (!dispatch(connection, backlog[0]!)) {
        free.push(connection);
        break;
      }
      backlog.shift();
    }
  };

  try {
    for (;;) {
      if (failure) throw failure;
      const now = performance.now();
      if (now >= end) break;
      while (start + sequence * intervalMs <= now) {
        const intendedAt = start + sequence * intervalMs;
        sequence += 1;
        const connection = free.pop();
        if (connection === undefined || !dispatch(connection, intendedAt)) {
          if (connection !== undefined) free.push(connection);
          backlog.push(intendedAt);
          if (intendedAt >= measureStart) queuedLate += 1;
        }
      }
      // Retry the backlog on free connections (a pair may have freed up).
      retryBacklog();
      const untilNext = start + sequence * intervalMs - performance.now();
      await sleep(untilNext > 1 ? Math.floor(untilNext) : 0);
    }
    // Responses, then the events they announce.
    const drainUntil = performance.now() + command.drainMs;
    while (performance.now() < drainUntil) {
      if (
        pending === 0 &&
        backlog.length === 0 &&
        records.every((record) => !record.ok || (record.eventAt[0] >= 0 && record.eventAt[1] >= 0))
      )
        break;
      retryBacklog();
      await sleep(5);
    }
  } finally {
    for (const connection of all) connection.close();
  }

  const fromPostedAt: number[] = [];
  const fromResponse: number[] = [];
  const fromSend: number[] = [];
  const posting: number[] = [];
  let expected = 0;
  let missed = 0;
  for (const record of records) {
    if (record.intendedAt < measureStart || record.intendedAt >= end) continue;
    posting.push(record.respondedAt - record.intendedAt);
    if (!record.ok) continue;
    for (const at of record.eventAt) {
      expected += 1;
      if (Number.isNaN(at)) missed += 1;
      else {
        fromResponse.push(at - record.respondedAt);
        // Wall clock of the arrival (this process) against the server's postedAt (same machine's clock).
        fromPostedAt.push(performance.timeOrigin + at - record.postedAtMs);
        fromSend.push(at - record.intendedAt);
      }
    }
  }
  const result: PostResult = {
    offered: sequence,
    postedOk,
    postedFailed,
    queuedLate,
    fromPostedAt: summarize(fromPostedAt),
    fromResponse: summarize(fromResponse),
    fromSend: summarize(fromSend),
    posting: summarize(posting),
    eventsExpected: expected,
    eventsMissed: missed,
    eventsUnmatched,
    failureSamples,
  };
  queues = null;
  reply({ type: 'posted', result });
}

let subscriberAccountIds: string[] = [];

async function close(keep: number): Promise<void> {
  const closing: Array<Promise<void>> = [];
  for (let index = keep; index < subscribers.length; index += 1) {
    const socket = subscribers[index]?.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) continue;
    closing.push(
      new Promise((resolve) => {
        const timer = setTimeout(() => {
          socket.terminate();
          resolve();
        }, 5000);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.close(1000, 'done');
      }),
    );
  }
  await Promise.all(closing);
  subscribers.length = Math.min(subscribers.length, keep);
  reply({ type: 'closed', open: subscribers.filter((subscriber) => subscriber.live).length });
}

/** The orchestrator's side: forks this module as the driver process and asks it one command at a time. */
export class SubscriberDriver {
  private readonly child: ChildProcess;
  private waiting: { resolve: (reply: SubscriberReply) => void; reject: (error: Error) => void } | null = null;

  constructor() {
    this.child = fork(__filename, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (reply: SubscriberReply) => {
      const waiting = this.waiting;
      this.waiting = null;
      if (reply.type === 'error') waiting?.reject(new Error(`subscriber driver failed: ${reply.message}`));
      else waiting?.resolve(reply);
    });
    this.child.once('exit', (code) => this.waiting?.reject(new Error(`the subscriber driver exited (${code})`)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Opens one balanceUpdated subscriber per account on `server`, with the bench's READER key. */
  openSubscribers(server: { host: string; port: number }, fixture: Fixture, accountIds: string[], timeoutMs: number) {
    return this.ask(
      {
        type: 'open',
        url: `ws://${server.host}:${server.port}/graphql`,
        authorization: `Bearer ${fixture.secrets.reader}`,
        asset: fixture.assetCode,
        accountIds,
        concurrency: 200,
        timeoutMs: 30_000,
      },
      'opened',
      timeoutMs,
    );
  }

  /** Posts transfers among the first `busyCount` subscribed accounts at a fixed rate through `server`. */
  postAtRate(
    server: { host: string; port: number },
    fixture: Fixture,
    load: { busyCount: number; ratePerSecond: number; warmupMs: number; durationMs: number },
  ) {
    return this.ask(
      {
        type: 'post',
        endpoint: {
          host: server.host,
          port: server.port,
          path: '/graphql',
          authorization: `Bearer ${fixture.secrets.operator}`,
        },
        asset: fixture.assetCode,
        ...load,
        connections: 32,
        drainMs: 3_000,
        seed: Math.floor(Math.random() * 2 ** 31),
      },
      'posted',
      load.warmupMs + load.durationMs + 60_000,
    );
  }

  ask<T extends SubscriberReply['type']>(
    command: SubscriberCommand,
    expect: T,
    timeoutMs: number,
  ): Promise<Extract<SubscriberReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`the subscriber driver did not answer ${command.type} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = {
        resolve: (reply) => {
          clearTimeout(timer);
          if (reply.type !== expect) reject(new Error(`expected ${expect}, got ${reply.type}`));
          else resolve(reply as Extract<SubscriberReply, { type: T }>);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.child.send(command);
    });
  }

  stop(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

if (require.main === module) {
  process.on('message', (command: SubscriberCommand) => {
    const run = async () => {
      if (command.type === 'open') {
        subscriberAccountIds = command.accountIds;
        await open(command);
      } else if (command.type === 'post') await post(command);
      else if (command.type === 'close') await close(command.keep);
      else if (command.type === 'events') reply({ type: 'events', count: eventsTotal });
      else if (command.type === 'exit') {
        for (const subscriber of subscribers) subscriber.socket.terminate();
        process.disconnect?.();
        process.exit(0);
      }
    };
    run().catch((error: Error) => reply({ type: 'error', message: error.stack ?? String(error) }));
  });
}
