import { CoalescedRun } from '../platform/coalesced-run.js';
import type pg from 'pg';
import type { Database } from '../platform/db.js';
import type { Logger } from '../platform/logger.js';
import { inTransaction } from '../platform/transaction.js';
import { SYSTEM_PRINCIPAL } from '../authorization/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import { insertAuditEventSql } from '../audit/audit.repository.js';
import type { EventFeed } from '../events/feed.service.js';
import type { LedgerEvent } from '../events/event.types.js';
import type { WebhookConfig } from '../platform/config.js';
import { ATTEMPTS_MAX, classify, failedTooLong, nextDelayMs, type AttemptOutcome } from './retry.core.js';
import { decryptSecret, signedRequest, type WebhookMessage } from './signing.core.js';
import type { WebhookSender } from './sender.js';
import {
  claimDelivery,
  claimDueDeliveries,
  clearFailing,
  disableEndpoint,
  markFailing,
  recordAttempt,
  selectDelivery,
  selectDueRoots,
  type ClaimedDelivery,
  type DeliveryRow,
} from './webhooks.repository.js';

/** Counts attempts for metrics: `outcome` is the verdict's action (succeeded, retry, failed, gone). */
export interface WebhookObserver {
  attempt(outcome: 'succeeded' | 'retry' | 'failed' | 'gone'): void;
  deliveriesMade(count: number): void;
}

export const unobservedWebhooks: WebhookObserver = { attempt: () => undefined, deliveriesMade: () => undefined };

/** Trees one fill looks at, at most; the next fill starts after the last tree served. */
const DUE_ROOTS_PER_FILL = 100;

/** Beyond the attempt's own timeout, how long a claim outlives it: time to record the outcome. */
export const LEASE_MARGIN_MS = 5_000;

/**
 * Sends due deliveries: claims them in the database (FOR UPDATE SKIP LOCKED, with a lease), one statement
 * per tree with due work (on Citus a lock must name its shard), commits the claim, sends each once, and
 * records the outcome. Any instance may claim any delivery; a claim whose
 * instance died is due again when its lease runs out, so delivery is at least once. In flight at once:
 * at most `concurrency` from this instance and `endpointConcurrency` to one endpoint, so one slow
 * partner holds only its own slots.
 */
export class DeliveryWorker {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly perEndpoint = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private readonly fills = new CoalescedRun(
    () => this.fill(),
    (error) => this.logger.error('webhook claim failed', { error }),
    () => !this.stopped,
  );
  private stopped = false;
  private readonly origin: RequestOrigin;
  /** The tree the last fill served first: the next fill serves the trees after it first, so trees take turns. */
  private firstServed: string | null = null;

  constructor(
    private readonly db: Database,
    private readonly feed: EventFeed,
    private readonly sender: WebhookSender,
    private readonly secretKey: Buffer,
    private readonly config: WebhookConfig,
    private readonly logger: Logger,
    /** Names this instance in claims (claimed_by). */
    private readonly claimant: string,
    private readonly attemptsMax: number,
    private readonly observer: WebhookObserver = unobservedWebhooks,
  ) {
    this.origin = { principal: SYSTEM_PRINCIPAL, requestId: `webhooks:${claimant}`, clientAddress: null };
  }

  private get leaseMs(): number {
    return this.config.timeoutMs + LEASE_MARGIN_MS;
  }

  start(): void {
    if (this.timer) return;
    this.stopped = false;
    this.timer = setInterval(() => this.poke(), this.config.pollIntervalMs);
    this.timer.unref();
  }

  /** Stops claiming, aborts attempts in flight (their leases run out, so they are retried) and waits for them. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.fills.settled;
    this.sender.close();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Looks for due work now (new deliveries were made, or a slot freed up). */
  poke(): void {
    this.fills.request();
  }

  /** One test send, now, whatever the endpoint's status; resolves with the delivery after its attempt. */
  async deliverNow(delivery: { rootLedgerId: string; id: string }): Promise<DeliveryRow | null> {
    const claim = await claimDelivery(this.db.pool, delivery, this.claimant, this.leaseMs);
    if (claim !== null) await this.attempt(claim, new Map());
    return selectDelivery(this.db.pool, delivery);
  }

  private async fill(): Promise<void> {
    for (;;) {
      const free = this.config.concurrency - this.inFlight.size;
      if (this.stopped || free <= 0) return;
      const { claims, more } = await this.claim(free);
      if (claims.length === 0) return;
      const events = await this.eventsOf(claims);
      for (const claim of claims) {
        this.perEndpoint.set(claim.endpointId, (this.perEndpoint.get(claim.endpointId) ?? 0) + 1);
        const running: Promise<void> = this.attempt(claim, events)
          .catch((error) => this.logger.error('webhook attempt failed', { deliveryId: claim.id, error }))
          .finally(() => {
            this.inFlight.delete(running);
            const left = (this.perEndpoint.get(claim.endpointId) ?? 1) - 1;
            if (left > 0) this.perEndpoint.set(claim.endpointId, left);
            else this.perEndpoint.delete(claim.endpointId);
            this.poke();
          });
        this.inFlight.add(running);
      }
      if (!more) return;
    }
  }

  /**
   * Claims up to `free` due deliveries, one statement per tree with due work. The free slots are shared out
   * as the trees come, each taking at most an even share of what is left (what one leaves goes to those
   * after it), and the first tree served changes from one fill to the next: a tree with a backlog cannot
   * keep the others waiting. `more` when a tree may have more due than it was given (it took its whole share)
   * or trees past the list's limit may.
   */
  private async claim(free: number): Promise<{ claims: ClaimedDelivery[]; more: boolean }> {
    const roots = await selectDueRoots(this.db.pool, this.firstServed, DUE_ROOTS_PER_FILL);
    if (roots.length === 0) return { claims: [], more: false };
    this.firstServed = roots[0]!;
    const busy = [...this.perEndpoint.entries()];
    const busyHere = { endpointIds: busy.map(([id]) => id), counts: busy.map(([, count]) => count) };
    const claims: ClaimedDelivery[] = [];
    let more = roots.length === DUE_ROOTS_PER_FILL;
    for (let index = 0; index < roots.length && claims.length < free && !this.stopped; index += 1) {
      const share = Math.ceil((free - claims.length) / (roots.length - index));
      const claimed = await claimDueDeliveries(
        this.db.pool,
        roots[index]!,
        this.claimant,
        share,
        this.config.endpointConcurrency,
        this.leaseMs,
        busyHere,
      );
      claims.push(...claimed);
      more ||= claimed.length === share;
    }
    return { claims, more };
  }

  /** The feed events of a batch of claims, read once for the batch; keyed by root, xid and id. */
  private async eventsOf(claims: ClaimedDelivery[]): Promise<Map<string, LedgerEvent>> {
    const keys = claims
      .filter((claim) => claim.eventXid !== null && claim.eventId !== null)
      .map((claim) => ({ rootLedgerId: claim.rootLedgerId, xid: claim.eventXid!, id: claim.eventId! }));
    const found = new Map<string, LedgerEvent>();
    for (const event of await this.feed.byKeys(keys)) {
      found.set(`${event.rootLedgerId}:${event.position.xid}:${event.position.id}`, event);
    }
    return found;
  }

  private async messageOf(claim: ClaimedDelivery, events: Map<string, LedgerEvent>): Promise<WebhookMessage | null> {
    if (claim.testEvent !== null) {
      const test = claim.testEvent as { id: string; type: string; occurredAt: string; data: Record<string, unknown> };
      return { id: test.id, type: test.type, occurredAt: new Date(test.occurredAt), data: test.data };
    }
    const key = `${claim.rootLedgerId}:${claim.eventXid}:${claim.eventId}`;
    const event =
      events.get(key) ??
      (await this.feed.byKeys([{ rootLedgerId: claim.rootLedgerId, xid: claim.eventXid!, id: claim.eventId! }]))[0];
    return event ? { id: event.id, type: event.type, occurredAt: event.occurredAt, data: event.data } : null;
  }

  private async attempt(claim: ClaimedDelivery, events: Map<string, LedgerEvent>): Promise<void> {
    // Claims count attempts; one whose earlier attempts all died before recording (a crash loop) ends here.
    if (claim.attempts > ATTEMPTS_MAX) {
      await this.record(claim, { kind: 'network', message: `no outcome recorded in ${ATTEMPTS_MAX} attempts` });
      return;
    }
    const outcome = await this.send(claim, events);
    if (this.stopped && outcome.kind !== 'response') return;
    await this.record(claim, outcome);
  }

  private async send(claim: ClaimedDelivery, events: Map<string, LedgerEvent>): Promise<AttemptOutcome> {
    const message = await this.messageOf(claim, events);
    if (message === null) return { kind: 'network', message: 'the event is missing from the feed' };
    const secrets: string[] = [];
    try {
      secrets.push(decryptSecret(this.secretKey, claim.secretEncrypted));
      if (claim.previousSecretEncrypted !== null)
        secrets.push(decryptSecret(this.secretKey, claim.previousSecretEncrypted));
    } catch {
      // Retried on the schedule like any failure, so a key put back in time loses nothing.
      return { kind: 'network', message: 'the signing secret cannot be decrypted: was WEBHOOK_SECRET_KEY changed?' };
    }
    return this.sender.send(claim.url, signedRequest(message, secrets, new Date()));
  }

  /** The outcome, the endpoint's failure streak and, when it ends the endpoint, its disabling: one transaction. */
  private async record(claim: ClaimedDelivery, outcome: AttemptOutcome): Promise<void> {
    const now = new Date();
    const verdict = classify(outcome, now);
    this.observer.attempt(verdict.action);
    const responseStatus = outcome.kind === 'response' ? outcome.status : null;
    const fence = { rootLedgerId: claim.rootLedgerId, id: claim.id, claimant: this.claimant, attempts: claim.attempts };
    const endpointKey = { rootLedgerId: claim.rootLedgerId, id: claim.endpointId };
    // A test send is one attempt, and tells nothing about the endpoint's health.
    const isTest = claim.origin === 'TEST';
    await inTransaction(this.db.pool, this.attemptsMax, async (client) => {
      if (verdict.action === 'succeeded') {
        const recorded = await recordAttempt(client, fence, {
          status: 'SUCCEEDED',
          retryInMs: null,
          responseStatus,
          error: null,
        });
        if (recorded && !isTest) await clearFailing(client, endpointKey);
        return;
      }
      const delay =
        verdict.action === 'retry' && !isTest
          ? nextDelayMs(claim.attempts, this.config.retryScale, Math.random(), verdict.retryAfterMs)
          : null;
      const recorded = await recordAttempt(client, fence, {
        status: delay === null ? 'FAILED' : 'PENDING',
        retryInMs: delay,
        responseStatus,
        error: verdict.error,
      });
      if (!recorded || isTest) return;
      if (verdict.action === 'gone') {
        await this.disable(client, claim, 'the receiver answered 410 Gone');
        return;
      }
      const endpoint = await markFailing(client, endpointKey);
      if (endpoint?.failingSince && failedTooLong(endpoint.failingSince, now, this.config.retryScale)) {
        await this.disable(client, claim, `every attempt failed since ${endpoint.failingSince.toISOString()}`);
      }
    });
  }

  private async disable(client: pg.PoolClient, claim: ClaimedDelivery, reason: string): Promise<void> {
    if (await disableEndpoint(client, { rootLedgerId: claim.rootLedgerId, id: claim.endpointId }, reason)) {
      await insertAuditEventSql(
        client,
        auditEvent(this.origin, 'disableWebhookEndpoint', claim.rootLedgerId, [claim.endpointId]),
      );
      this.logger.warn('webhook endpoint disabled', { endpointId: claim.endpointId, reason });
    }
  }
}
