import type { Database } from '../platform/db.js';
import type { Logger } from '../platform/logger.js';
import { DomainError } from '../platform/errors.js';
import { SYSTEM_PRINCIPAL } from '../authorization/access.core.js';
import type { RequestOrigin } from '../audit/audit.js';
import type { PostingEngine } from '../postings/posting-engine.js';
import type { ExpiryService } from './expiry.service.js';
import { holdsTimedOut, rootsWithLapsedLots } from './jobs.repository.js';

/** Root ledgers and timed-out holds one tick handles at most; the rest wait for the next tick. */
export const SCHEDULER_ROOTS_PER_TICK = 100;
export const SCHEDULER_HOLDS_PER_TICK = 500;

/** Counts scheduler passes and their work, for metrics. */
export interface SchedulerObserver {
  run(outcome: 'ok' | 'failed'): void;
  work(job: 'expiry' | 'hold_timeout', count: number): void;
}

/**
 * The server's own clock-driven work: expire lapsed lots and void holds past their timeout. Ticks never
 * overlap within a process, and both jobs are safe with several servers ticking at once (expiry locks
 * each balance before measuring; a hold is settled at most once).
 */
export class Scheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly db: Database,
    private readonly expiry: ExpiryService,
    private readonly engine: PostingEngine,
    private readonly logger: Logger,
    private readonly intervalSeconds: number,
    private readonly observer: SchedulerObserver = { run: () => undefined, work: () => undefined },
  ) {}

  start(): void {
    if (this.intervalSeconds <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (this.running === null) {
        this.running = this.tick().then(() => {
          this.running = null;
        });
      }
    }, this.intervalSeconds * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass of both jobs; exposed so a test can drive the clock itself. */
  async tick(now: Date = new Date()): Promise<{ expiryTransactions: number; holdsVoided: number }> {
    const origin: RequestOrigin = { principal: SYSTEM_PRINCIPAL, requestId: `scheduler:${now.toISOString()}`, clientAddress: null };
    let expiryTransactions = 0;
    let holdsVoided = 0;
    try {
      for (const root of await rootsWithLapsedLots(this.db.pool, now, SCHEDULER_ROOTS_PER_TICK)) {
        expiryTransactions += await this.expiry.run(origin, { id: root, rootLedgerId: root }, now);
      }
      for (const id of await holdsTimedOut(this.db.pool, now, SCHEDULER_HOLDS_PER_TICK)) {
        try {
          await this.engine.settle(origin, id, 'TIMEOUT', null, null);
          holdsVoided += 1;
        } catch (error) {
          // Another server, or the client, settled it first.
          if (!(error instanceof DomainError)) throw error;
        }
      }
      this.observer.run('ok');
    } catch (error) {
      this.observer.run('failed');
      this.logger.error('scheduler tick failed', { error });
    }
    this.observer.work('expiry', expiryTransactions);
    this.observer.work('hold_timeout', holdsVoided);
    if (expiryTransactions + holdsVoided > 0) this.logger.info('scheduler tick', { expiryTransactions, holdsVoided });
    return { expiryTransactions, holdsVoided };
  }
}
