import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from './logger.js';
import { RateLimiter } from './rate-limit.js';
import {
  IPC_TAG,
  isBroadcast,
  isRequest,
  planRestart,
  WriteMarks,
  type ReplyMessage,
  type WorkerReplies,
  type WorkerRequest,
  type WorkerSetup,
} from './worker-ipc.core.js';

/**
 * Set in the environment of the workers this primary forks: a process that is a cluster worker of something
 * else (a process manager's cluster mode) runs as a single server, not as a worker waiting for a setup.
 */
export const WORKER_ENV = 'REWARD_LEDGER_WORKER';

/** Whether this process is a worker forked by `startWorkers`. */
export function isLedgerWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] === '1';
}

/** Only a cluster primary can fork: under another's cluster the server runs as one process. */
export function mayForkWorkers(): boolean {
  return cluster.isPrimary;
}

/** The slot whose worker runs the scheduler; its replacement takes the scheduler over. */
export const SCHEDULER_SLOT = 1;

export interface WorkerPoolOptions {
  count: number;
  /** What every worker is handed by its `setup` request, besides its slot. */
  setup: Omit<WorkerSetup, 'slot' | 'workers' | 'runsScheduler'>;
  /** The per-credential limit kept here for every worker when there is no Redis. */
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  logger: Logger;
  /** How long `stop` waits for workers to drain before it kills them. */
  stopGraceMs: number;
}

export interface WorkerPool {
  /** The port the workers share, once every first worker listens; rejects if one exits before it does. */
  listening: Promise<number>;
  /** Resolves with a reason when the pool gives up (a slot in a crash loop): the server should stop. */
  failed: Promise<string>;
  /** Asks every worker to stop (SIGTERM), kills those still running after the grace; true if all exited 0. */
  stop(): Promise<boolean>;
}

interface Slot {
  worker: Worker | null;
  crashes: number[];
  restartTimer: NodeJS.Timeout | null;
}

/**
 * The primary process of `WEB_CONCURRENCY` > 1: forks one worker per slot, which share the port through
 * node:cluster (connections are dealt round-robin), answers their requests (their setup, the rate-limit
 * buckets and read-replica write marks that must be one for all of them, the metrics of all of them), relays
 * their local events to each other, and replaces a worker that dies.
 */
export function startWorkers(options: WorkerPoolOptions): WorkerPool {
  const { logger } = options;
  const buckets = new RateLimiter(options.rateLimitPerSecond, options.rateLimitBurst);
  const marks = new WriteMarks();
  // Workers answer it with their own registries (worker-link.ts); it sums them.
  const aggregator = new AggregatorRegistry();
  const slots = new Map<number, Slot>();
  let stopping = false;
  let started = false;

  let reportListening!: (port: number) => void;
  let failStart!: (error: Error) => void;
  const listening = new Promise<number>((resolve, reject) => {
    reportListening = resolve;
    failStart = reject;
  });
  let giveUp!: (reason: string) => void;
  const failed = new Promise<string>((resolve) => (giveUp = resolve));
  const listened = new Set<number>();
  let port: number | null = null;

  const answer = async (request: WorkerRequest, slot: number): Promise<WorkerReplies[WorkerRequest['kind']]> => {
    switch (request.kind) {
      case 'setup':
        return { ...options.setup, slot, workers: options.count, runsScheduler: slot === SCHEDULER_SLOT };
      case 'rateLease':
        return buckets.takeUpTo(request.key, Math.max(1, Math.floor(request.wanted)));
      case 'metrics':
        return { contentType: aggregator.contentType, text: await aggregator.clusterMetrics() };
      case 'markRecord':
        marks.record(request.credential, BigInt(request.lsn), request.keepMs);
        return null;
      case 'markGet':
        return marks.get(request.credential)?.toString() ?? null;
    }
  };

  const send = (worker: Worker, message: unknown) => {
    if (!worker.isConnected()) return;
    try {
      worker.send(message as never, undefined, () => undefined);
    } catch {
      // The worker is exiting; its exit is handled where it is seen.
    }
  };

  const fork = (slotNumber: number) => {
    const slot = slots.get(slotNumber)!;
    slot.restartTimer = null;
    const worker = cluster.fork({ [WORKER_ENV]: '1' });
    slot.worker = worker;
    worker.on('message', (message: unknown) => {
      if (isRequest(message)) {
        answer(message.request, slotNumber).then(
          (value) => send(worker, { tag: IPC_TAG, id: message.id, ok: true, value } satisfies ReplyMessage),
          (error: Error) =>
            send(worker, { tag: IPC_TAG, id: message.id, ok: false, error: error.message } satisfies ReplyMessage),
        );
      } else if (isBroadcast(message)) {
        for (const other of slots.values())
          if (other.worker !== null && other.worker !== worker) send(other.worker, message);
      }
    });
    worker.on('listening', (address) => {
      port ??= address.port;
      if (started) {
        logger.info('worker replaced', { slot: slotNumber, pid: worker.process.pid });
        return;
      }
      listened.add(slotNumber);
      if (listened.size === options.count) {
        started = true;
        reportListening(port);
      }
    });
    worker.once('exit', (code, signal) => {
      if (slot.worker === worker) slot.worker = null;
      if (stopping) return;
      const exit = { slot: slotNumber, pid: worker.process.pid, code, signal };
      if (!started) {
        failStart(new Error(`worker ${slotNumber} exited (${signal ?? code}) before it listened`));
        return;
      }
      const plan = planRestart(slot.crashes, Date.now());
      slot.crashes = plan.recentCrashes;
      if (plan.giveUp) {
        const reason = `worker ${slotNumber} died ${plan.recentCrashes.length} times within a minute; giving up on it`;
        logger.error(`${reason}: the server stops`, exit);
        giveUp(reason);
        return;
      }
      logger.warn('worker died; starting a replacement', { ...exit, restartInMs: plan.delayMs });
      slot.restartTimer = setTimeout(() => fork(slotNumber), plan.delayMs);
    });
  };

  for (let slot = 1; slot <= options.count; slot += 1) {
    slots.set(slot, { worker: null, crashes: [], restartTimer: null });
    fork(slot);
  }

  return {
    listening,
    failed,
    async stop() {
      stopping = true;
      const running: Worker[] = [];
      for (const slot of slots.values()) {
        if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
        if (slot.worker !== null) running.push(slot.worker);
      }
      const codes = await Promise.all(
        running.map(
          (worker) =>
            new Promise<number | null>((resolve) => {
              if (worker.process.exitCode !== null || worker.process.signalCode !== null) {
                resolve(worker.process.exitCode);
                return;
              }
              const timer = setTimeout(() => {
                logger.error('worker did not stop in time; killing it', { pid: worker.process.pid });
                worker.process.kill('SIGKILL');
              }, options.stopGraceMs);
              worker.once('exit', (code) => {
                clearTimeout(timer);
                resolve(code);
              });
              // The worker drains and closes its pool itself (main.ts), as a single process does on SIGTERM.
              worker.process.kill('SIGTERM');
            }),
        ),
      );
      return codes.every((code) => code === 0);
    },
  };
}
