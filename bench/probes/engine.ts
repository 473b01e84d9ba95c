/**
 * The posting engine without HTTP and GraphQL: a separate process builds the server's own services
 * from dist/ on a pool of the same size and calls `postings.transfer` / `postings.issue` at fixed
 * concurrency. Set against the full-stack scenario, it splits a posting's cost into "engine and SQL"
 * and "HTTP + GraphQL + auth".
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { startCpuWindow, type CpuWindow } from '../lib/proc.js';
import { DIST_DIR } from '../lib/server.js';
import { rng, summarize, type LatencySummary } from '../lib/stats.js';

export interface EngineJob {
  databaseUrl: string;
  poolMax: number;
  operation: 'transfer' | 'issue';
  rootLedgerId: string;
  accountIds: string[];
  asset: string;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

export interface EngineResult {
  throughput: number;
  latency: LatencySummary;
  errors: number;
  cpu: CpuWindow | null;
  /** SQL statements the engine sent per posting (counted at the driver). */
  statementsPerPosting: number;
}

async function child(job: EngineJobWithSeed): Promise<Omit<EngineResult, 'cpu'>> {
  // The built server's modules, loaded at run time: the bench compiles apart from src/.
  const { connectDatabase } = require(path.join(DIST_DIR, 'platform', 'db.js'));
  const { createServices } = require(path.join(DIST_DIR, 'app.js'));
  const { unobservedEvents } = require(path.join(DIST_DIR, 'events', 'ledger-events.js'));
  const { localOnlyFanout } = require(path.join(DIST_DIR, 'events', 'fanout.js'));
  const db = connectDatabase(job.databaseUrl, job.poolMax);
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  // No subscribers here: the in-process fan-out (the server's default sends a NOTIFY after each commit).
  const { services } = createServices(db, {
    adminApiKey: undefined,
    tokenSecret: undefined,
    postingAttemptsMax: 5,
    fanout: () => localOnlyFanout,
    logger: quiet,
    events: unobservedEvents,
  });
  const origin = {
    principal: {
      actorId: 'bench-engine-probe',
      actorType: 'api_key',
      role: 'OPERATOR',
      scope: { rootLedgerId: job.rootLedgerId, ledgerId: job.rootLedgerId },
    },
    requestId: 'bench-engine-probe',
    clientAddress: null,
  };
  const random = rng(job.seed ?? 1);
  const prefix = randomBytes(6).toString('hex');
  let sequence = 0;
  const post = () => {
    const count = job.accountIds.length;
    const amount = BigInt(1 + Math.floor(random() * 100));
    const idempotencyKey = `${prefix}-${sequence++}`;
    if (job.operation === 'issue') {
      return services.postings.issue(origin, {
        accountId: job.accountIds[Math.floor(random() * count)],
        asset: job.asset,
        amount,
        idempotencyKey,
      });
    }
    const from = Math.floor(random() * count);
    let to = Math.floor(random() * (count - 1));
    if (to >= from) to += 1;
    return services.postings.transfer(origin, {
      fromAccountId: job.accountIds[from],
      toAccountId: job.accountIds[to],
      asset: job.asset,
      amount,
      idempotencyKey,
    });
  };
  const latencies: number[] = [];
  let errors = 0;
  const measureStart = performance.now() + job.warmupMs;
  const end = measureStart + job.durationMs;
  let statementsAtStart = 0;
  let postingsInWindow = 0;
  setTimeout(() => {
    statementsAtStart = db.statementCount();
    if (process.connected) process.send?.({ type: 'mark', mark: 'measure-start' });
  }, job.warmupMs);
  let statementsAtEnd = 0;
  setTimeout(() => {
    statementsAtEnd = db.statementCount();
    if (process.connected) process.send?.({ type: 'mark', mark: 'measure-end' });
  }, job.warmupMs + job.durationMs);
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (performance.now() < end) {
        const sentAt = performance.now();
        try {
          await post();
        } catch {
          errors += 1;
        }
        const doneAt = performance.now();
        if (doneAt >= measureStart && doneAt < end) {
          latencies.push(doneAt - sentAt);
          postingsInWindow += 1;
        }
      }
    }),
  );
  await db.close();
  return {
    throughput: ((latencies.length - errors) * 1000) / job.durationMs,
    latency: summarize(latencies),
    errors,
    statementsPerPosting: (statementsAtEnd - statementsAtStart) / Math.max(postingsInWindow, 1),
  };
}

interface EngineJobWithSeed extends EngineJob {
  seed?: number;
}

/** Runs one engine job in a child process and measures the cores used in its window. */
export function runEngineProbe(job: EngineJobWithSeed, postmasterPid: number | null): Promise<EngineResult> {
  return new Promise((resolve, reject) => {
    const worker = fork(__filename, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let window: ReturnType<typeof startCpuWindow> | null = null;
    let cpu: CpuWindow | null = null;
    worker.on(
      'message',
      (message: { type: string; mark?: string; result?: Omit<EngineResult, 'cpu'>; error?: string }) => {
        if (message.type === 'mark' && message.mark === 'measure-start')
          window = startCpuWindow({ serverPid: worker.pid, postmasterPid });
        else if (message.type === 'mark' && message.mark === 'measure-end') cpu = window?.end() ?? null;
        else if (message.type === 'result') resolve({ ...message.result!, cpu });
        else if (message.type === 'error') reject(new Error(message.error));
      },
    );
    worker.once('exit', (code) => reject(new Error(`engine probe exited (${code}) without a result`)));
    worker.send(job);
  });
}

if (require.main === module) {
  process.on('message', (job: EngineJobWithSeed) => {
    child(job).then(
      (result) => {
        process.send?.({ type: 'result', result });
        process.disconnect?.();
      },
      (error: Error) => {
        process.send?.({ type: 'error', error: error.stack ?? String(error) });
        process.disconnect?.();
      },
    );
  });
}
