/**
 * The load driver: a separate process (forked by the orchestrator) that drives the server over HTTP
 * keep-alive connections, either at fixed concurrency (closed loop) or at a fixed arrival rate (open
 * loop), and reports throughput and latency per outcome. It never talks to Postgres.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DriverJob, DriverMessage, DriverResult, WorkloadFactory } from './driver-protocol.js';
import { KeepAliveConnection, type HttpResponse } from './http-client.js';
import { rng, summarize } from './stats.js';

const SAMPLES_KEPT = 3;
// Bounds: a run never outlives its window by more than this, whatever the server does.
const DRAIN_GRACE_MS = 30_000;
const CONNECTIONS_MAX = 512;

class Recorder {
  answered = 0;
  readonly all: number[] = [];
  readonly byOutcome = new Map<string, number[]>();
  readonly samples: string[] = [];

  record(response: HttpResponse, latencyMs: number): void {
    const outcome = classify(response);
    this.all.push(latencyMs);
    let list = this.byOutcome.get(outcome);
    if (list === undefined) {
      list = [];
      this.byOutcome.set(outcome, list);
    }
    list.push(latencyMs);
    if (outcome !== 'OK' && this.samples.length < SAMPLES_KEPT && !this.samples.some((sample) => sample.startsWith(outcome))) {
      this.samples.push(`${outcome}: ${response.body.toString('utf8', 0, 400)}`);
    }
  }

  result(measuredMs: number, queuedLate?: number): DriverResult {
    const outcomes: DriverResult['outcomes'] = {};
    for (const [outcome, list] of this.byOutcome) outcomes[outcome] = { latency: summarize(list) };
    return {
      completed: this.all.length,
      answered: this.answered,
      measuredMs,
      throughputPerSecond: (this.all.length * 1000) / measuredMs,
      latency: summarize(this.all),
      outcomes,
      samples: this.samples,
      ...(queuedLate === undefined ? {} : { queuedLate }),
    };
  }
}

const ERRORS_MARKER = Buffer.from('"errors"');
/** A batch item's own error (`postTransactions` answers 200 with `error: { code }` per failed item). */
const ITEM_ERROR_MARKER = Buffer.from('"error":{"code":"');

/** `OK`, the first GraphQL error's code, `ITEM_<code>` for a failed batch item, or `HTTP_<status>`. */
export function classify(response: HttpResponse): string {
  if (response.status === 200 && response.body.indexOf(ERRORS_MARKER) < 0) {
    const item = response.body.indexOf(ITEM_ERROR_MARKER);
    if (item < 0) return 'OK';
    const from = item + ITEM_ERROR_MARKER.length;
    return `ITEM_${response.body.toString('utf8', from, response.body.indexOf('"', from))}`;
  }
  try {
    const parsed = JSON.parse(response.body.toString('utf8')) as { errors?: Array<{ extensions?: { code?: string } }> };
    const code = parsed.errors?.[0]?.extensions?.code;
    if (code) return code;
  } catch {
    // Not JSON: fall through to the status.
  }
  return response.status === 200 ? 'UNKNOWN_ERROR' : `HTTP_${response.status}`;
}

function send(message: DriverMessage): void {
  // A late timer may fire after the result went out and the channel closed.
  if (process.connected) process.send?.(message);
}


async function openConnections(job: DriverJob, count: number): Promise<KeepAliveConnection[]> {
  if (count < 1 || count > CONNECTIONS_MAX) throw new Error(`connections must be 1 to ${CONNECTIONS_MAX}`);
  return Promise.all(Array.from({ length: count }, () => KeepAliveConnection.open(job.endpoint)));
}

function scheduleMarks(measureStart: number, end: number): () => void {
  const timers = [
    setTimeout(() => send({ type: 'mark', mark: 'measure-start' }), Math.max(0, measureStart - performance.now())),
    setTimeout(() => send({ type: 'mark', mark: 'measure-end' }), Math.max(0, end - performance.now())),
  ];
  return () => timers.forEach(clearTimeout);
}

async function closedLoop(job: DriverJob, concurrency: number, next: () => string): Promise<DriverResult> {
  const connections = await openConnections(job, concurrency);
  const recorder = new Recorder();
  const measureStart = performance.now() + job.warmupMs;
  let end = measureStart + job.durationMs;
  const requestsMax = job.requestsMax ?? 0;
  const cancelMarks = scheduleMarks(measureStart, end);
  try {
    await Promise.all(
      connections.map(async (connection) => {
        for (;;) {
          const sentAt = performance.now();
          if (sentAt >= end) return;
          const response = await connection.post(next());
          recorder.answered += 1;
          const doneAt = performance.now();
          if (doneAt >= measureStart && doneAt < end) {
            recorder.record(response, doneAt - sentAt);
            if (requestsMax > 0 && recorder.all.length >= requestsMax) end = Math.min(end, doneAt);
          }
        }
      }),
    );
  } finally {
    cancelMarks();
    for (const connection of connections) connection.close();
  }
  return recorder.result(Math.min(end, performance.now()) - measureStart);
}

/**
 * Sends request i at start + i/rate, on the first free connection; when every connection is busy the
 * request waits, and its wait counts in its latency (no coordinated omission).
 */
async function openLoop(job: DriverJob, ratePerSecond: number, connectionsMax: number, next: () => string): Promise<DriverResult> {
  const free = await openConnections(job, connectionsMax);
  const all = [...free];
  const recorder = new Recorder();
  const start = performance.now();
  const measureStart = start + job.warmupMs;
  const end = measureStart + job.durationMs;
  const intervalMs = 1000 / ratePerSecond;
  const cancelMarks = scheduleMarks(measureStart, end);
  const backlog: number[] = [];
  let queuedLate = 0;
  let inFlight = 0;
  let failure: Error | null = null;

  const dispatch = (connection: KeepAliveConnection, intendedAt: number) => {
    inFlight += 1;
    connection.post(next()).then(
      (response) => {
        inFlight -= 1;
        recorder.answered += 1;
        const doneAt = performance.now();
        if (intendedAt >= measureStart && intendedAt < end) recorder.record(response, doneAt - intendedAt);
        const waiting = backlog.shift();
        if (waiting !== undefined) dispatch(connection, waiting);
        // Free connections are reused oldest first, so none idles past the server's keep-alive timeout.
        else free.push(connection);
      },
      (error: Error) => {
        inFlight -= 1;
        failure = error;
      },
    );
  };

  try {
    let sequence = 0;
    for (;;) {
      if (failure) throw failure;
      const now = performance.now();
      if (now >= end) break;
      while (start + sequence * intervalMs <= now) {
        const intendedAt = start + sequence * intervalMs;
        sequence += 1;
        const connection = free.shift();
        if (connection) dispatch(connection, intendedAt);
        else {
          backlog.push(intendedAt);
          if (intendedAt >= measureStart) queuedLate += 1;
        }
      }
      const untilNext = start + sequence * intervalMs - performance.now();
      await sleep(untilNext > 1 ? Math.floor(untilNext) : 0);
    }
    const drainUntil = performance.now() + DRAIN_GRACE_MS;
    while ((inFlight > 0 || backlog.length > 0) && performance.now() < drainUntil) {
      if (failure) throw failure;
      await sleep(2);
    }
  } finally {
    cancelMarks();
    for (const connection of all) connection.close();
  }
  return recorder.result(job.durationMs, queuedLate);
}

export async function runJob(job: DriverJob): Promise<DriverResult> {
  const module = require(job.workload.module) as { workloads?: Record<string, WorkloadFactory> };
  const factory = module.workloads?.[job.workload.name];
  if (factory === undefined) throw new Error(`${job.workload.module} exports no workload ${job.workload.name}`);
  const makeBody = factory(job.workload.params, rng(job.seed), randomBytes(6).toString('hex'));
  let sequence = 0;
  const next = () => makeBody(sequence++);
  return job.mode.kind === 'closed'
    ? closedLoop(job, job.mode.concurrency, next)
    : openLoop(job, job.mode.ratePerSecond, job.mode.connectionsMax, next);
}

if (require.main === module) {
  process.on('message', (job: DriverJob) => {
    runJob(job).then(
      (result) => {
        send({ type: 'result', result });
        process.disconnect?.();
      },
      (error: Error) => {
        send({ type: 'error', message: error.stack ?? String(error) });
        process.disconnect?.();
      },
    );
  });
}
