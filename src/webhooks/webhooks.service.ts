import type { Database } from '../platform/db.js';
import { BadInputError, ForbiddenError, NotFoundError } from '../platform/errors.js';
import { isUuid, newId } from '../platform/ids.js';
import { readPage, toConnection, type Connection } from '../platform/pagination.js';
import { inTransaction } from '../platform/transaction.js';
import { requireId } from '../platform/validation.js';
import { authorize, ledgerPlacement, requireReach, type Operation } from '../authorization/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import { insertAuditEventSql } from '../audit/audit.repository.js';
import type { LedgerService } from '../ledgers/ledger.service.js';
import {
  encodeEventCursor,
  FEED_START,
  comparePositions,
  headBelow,
  readEventTypes,
  type EventType,
} from '../events/events.core.js';
import { finishedBefore, parseSnapshot } from './endpoint-start.core.js';
import { LedgerEvent } from '../events/event.types.js';
import type { EventFeed } from '../events/feed.service.js';
import type { WebhookConfig } from '../platform/config.js';
import { encryptSecret, generateSecret } from './signing.core.js';
import { assertWebhookTargetAllowed, parseWebhookUrl } from './network-guard.js';
import type { DeliveryWorker } from './delivery-worker.js';
import {
  deleteEndpoint,
  insertEventDeliveries,
  insertEndpoint,
  insertTestDelivery,
  lockEndpoint,
  makePendingDue,
  selectDeliveryPage,
  selectEndpoint,
  selectEndpointPage,
  selectSnapshot,
  updateEndpoint,
  type DeliveryRow,
  type DeliveryStatus,
  type EndpointChanges,
  type EndpointRow,
} from './webhooks.repository.js';
import {
  CreatedWebhookEndpoint,
  WebhookDelivery,
  WebhookDeliveryStatus,
  WebhookEndpoint,
  WebhookEndpointStatus,
} from './webhook.types.js';

/** Limits of the management API. */
export const WEBHOOK_DESCRIPTION_LENGTH_MAX = 500;
/** Events one redeliverWebhooks call may re-enqueue; a wider window must be split. */
export const REDELIVER_EVENTS_MAX = 10_000;
const REDELIVER_READ_SIZE = 500;
export const TEST_EVENT_TYPE = 'webhook.test';

export interface CreateEndpointInput {
  ledgerId: string;
  url: string;
  eventTypes?: string[] | null;
  description?: string | null;
}

export interface UpdateEndpointInput {
  url?: string | null;
  eventTypes?: string[] | null;
  status?: WebhookEndpointStatus | null;
  description?: string | null;
}

function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return Object.assign(new WebhookEndpoint(), {
    id: row.id,
    rootLedgerId: row.rootLedgerId,
    ledgerId: row.ledgerId,
    url: row.url,
    description: row.description,
    eventTypes: row.eventTypes,
    status: row.status as WebhookEndpointStatus,
    disabledReason: row.disabledReason,
    failingSince: row.failingSince,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  });
}

/**
 * Webhook endpoints and their deliveries: the management API. Every change locks the endpoint row (so it
 * never races the dispatcher's or a worker's bookkeeping) and writes its audit row in the same transaction.
 *
 * Every operation needs the ADMIN role over the endpoint's ledger, like API keys: an endpoint holds a
 * signing secret and sends the subtree's events to a URL outside, which is a grant of read access.
 */
export class WebhookService {
  private readonly secretKey: Buffer | null;

  constructor(
    private readonly db: Database,
    private readonly ledgers: LedgerService,
    private readonly feed: EventFeed,
    private readonly config: WebhookConfig,
    private readonly attemptsMax: number,
    /** WEBHOOK_ALLOW_PRIVATE_NETWORKS: targets on loopback and private networks are accepted. */
    private readonly allowPrivateNetworks: boolean,
    secretKey: Buffer | null,
    /** Absent when webhooks are off (no WEBHOOK_SECRET_KEY). */
    private readonly worker: () => DeliveryWorker | null,
  ) {
    this.secretKey = secretKey;
  }

  private key(): Buffer {
    if (this.secretKey === null)
      throw new ForbiddenError('webhooks are off on this server: it has no WEBHOOK_SECRET_KEY');
    return this.secretKey;
  }

  /** The URL's shape and, unless private networks are allowed, where its host resolves now (network-guard.ts). */
  private async checkUrl(raw: string): Promise<string> {
    const url = parseWebhookUrl(raw);
    await assertWebhookTargetAllowed(url, this.allowPrivateNetworks);
    return url.toString();
  }

  private checkDescription(raw: string | null | undefined): string | null {
    if (raw == null) return null;
    const trimmed = raw.trim();
    if (trimmed.length > WEBHOOK_DESCRIPTION_LENGTH_MAX)
      throw new BadInputError(`description must be at most ${WEBHOOK_DESCRIPTION_LENGTH_MAX} characters`);
    return trimmed.length === 0 ? null : trimmed;
  }

  /** The endpoint, after the caller's role and reach over its ledger are checked. */
  private async reachable(origin: RequestOrigin, operation: Operation, id: string, argument = 'id') {
    authorize(origin.principal, operation);
    const endpointId = requireId(id, argument);
    const root = isUuid(endpointId) ? await this.db.roots.rootOf('webhook_endpoints', endpointId) : null;
    const row = root === null ? null : await selectEndpoint(this.db.pool, { rootLedgerId: root, id: endpointId });
    if (row === null) throw new NotFoundError(`webhook endpoint ${id} does not exist`);
    const placement = (await this.ledgers.placements([row.ledgerId])).get(row.ledgerId);
    requireReach(origin.principal, placement ?? { rootLedgerId: row.rootLedgerId, ledgerPath: [] }, 'the endpoint');
    return row;
  }

  async create(origin: RequestOrigin, input: CreateEndpointInput): Promise<CreatedWebhookEndpoint> {
    authorize(origin.principal, 'createWebhookEndpoint');
    const ledger = await this.ledgers.findById(requireId(input.ledgerId, 'ledgerId'));
    if (ledger === null) throw new NotFoundError(`ledger ${input.ledgerId} does not exist`);
    requireReach(origin.principal, ledgerPlacement(ledger), 'the ledger');
    const url = await this.checkUrl(input.url);
    const eventTypes = readEventTypes(input.eventTypes, 'eventTypes') ?? [];
    const description = this.checkDescription(input.description);
    const key = this.key();
    const secret = generateSecret();
    const id = newId();
    const row = await inTransaction(this.db.pool, this.attemptsMax, async (client) => {
      // The cursor starts below every transaction of the tree still running; the snapshot tells which events
      // of the transactions above it had already committed, and are skipped (endpoint-start.core.ts).
      const { snapshot, xmin } = await selectSnapshot(client, ledger.rootLedgerId);
      const created = await insertEndpoint(client, {
        id,
        rootLedgerId: ledger.rootLedgerId,
        ledgerId: ledger.id,
        url,
        description,
        eventTypes,
        secretEncrypted: encryptSecret(key, secret),
        cursor: headBelow(xmin),
        startSnapshot: snapshot,
      });
      await insertAuditEventSql(client, auditEvent(origin, 'createWebhookEndpoint', ledger.rootLedgerId, [id]));
      return created;
    });
    this.db.roots.remember('webhook_endpoints', row.id, row.rootLedgerId);
    return Object.assign(new CreatedWebhookEndpoint(), { endpoint: toEndpoint(row), secret });
  }

  async update(origin: RequestOrigin, id: string, input: UpdateEndpointInput): Promise<WebhookEndpoint> {
    const existing = await this.reachable(origin, 'updateWebhookEndpoint', id);
    const changes: EndpointChanges = {};
    if (input.url != null) changes.url = await this.checkUrl(input.url);
    if (input.eventTypes != null) changes.eventTypes = readEventTypes(input.eventTypes, 'eventTypes') ?? [];
    if (input.description !== undefined) changes.description = this.checkDescription(input.description);
    const row = await inTransaction(this.db.pool, this.attemptsMax, async (client) => {
      const current = await lockEndpoint(client, existing);
      if (current === null) throw new NotFoundError(`webhook endpoint ${id} does not exist`);
      const reenabled = input.status === WebhookEndpointStatus.ENABLED && current.status === 'DISABLED';
      if (input.status === WebhookEndpointStatus.DISABLED && current.status === 'ENABLED') {
        changes.status = 'DISABLED';
        changes.disabledReason = 'disabled by updateWebhookEndpoint';
      }
      if (reenabled) {
        // A fresh start: the failure streak ends, and what waited while disabled is due now. The cursor
        // stayed where it was, so events of the disabled time are delivered too: nothing is skipped.
        changes.status = 'ENABLED';
        changes.disabledReason = null;
        changes.failingSince = null;
        await makePendingDue(client, current);
      }
      const updated = await updateEndpoint(client, current, changes);
      await insertAuditEventSql(
        client,
        auditEvent(origin, 'updateWebhookEndpoint', current.rootLedgerId, [current.id]),
      );
      return updated;
    });
    if (row.status === 'ENABLED') this.worker()?.poke();
    return toEndpoint(row);
  }

  /** A new secret signs from now on; the old one signs beside it for the overlap, then stops. */
  async rotateSecret(origin: RequestOrigin, id: string): Promise<CreatedWebhookEndpoint> {
    const existing = await this.reachable(origin, 'rotateWebhookSecret', id);
    const key = this.key();
    const secret = generateSecret();
    const overlapMs = this.config.rotationOverlapSeconds * 1000;
    const row = await inTransaction(this.db.pool, this.attemptsMax, async (client) => {
      const current = await lockEndpoint(client, existing);
      if (current === null) throw new NotFoundError(`webhook endpoint ${id} does not exist`);
      const updated = await updateEndpoint(client, current, {
        secretEncrypted: encryptSecret(key, secret),
        previousSecretEncrypted: overlapMs > 0 ? current.secretEncrypted : null,
        previousExpiresAt: overlapMs > 0 ? new Date(Date.now() + overlapMs) : null,
      });
      await insertAuditEventSql(client, auditEvent(origin, 'rotateWebhookSecret', current.rootLedgerId, [current.id]));
      return updated;
    });
    return Object.assign(new CreatedWebhookEndpoint(), { endpoint: toEndpoint(row), secret });
  }

  /** Deletes the endpoint and its deliveries; answers with the endpoint as it was. */
  async delete(origin: RequestOrigin, id: string): Promise<WebhookEndpoint> {
    const existing = await this.reachable(origin, 'deleteWebhookEndpoint', id);
    const row = await inTransaction(this.db.pool, this.attemptsMax, async (client) => {
      const current = await lockEndpoint(client, existing);
      if (current === null) throw new NotFoundError(`webhook endpoint ${id} does not exist`);
      await deleteEndpoint(client, current);
      await insertAuditEventSql(
        client,
        auditEvent(origin, 'deleteWebhookEndpoint', current.rootLedgerId, [current.id]),
      );
      return current;
    });
    return toEndpoint(row);
  }

  /**
   * Enqueues again every event of the endpoint's subtree and types that occurred in [from, to] and was
   * already turned into deliveries (events past the endpoint's cursor are on their way anyway). Each keeps
   * its event id, so the receiver sees the original webhook-id. At most REDELIVER_EVENTS_MAX per call.
   */
  async redeliver(origin: RequestOrigin, endpointId: string, from: Date, to: Date | null): Promise<number> {
    const existing = await this.reachable(origin, 'redeliverWebhooks', endpointId, 'endpointId');
    this.key();
    if (to !== null && to.getTime() < from.getTime()) throw new BadInputError('to must not be before from');
    const types = existing.eventTypes.length === 0 ? null : (existing.eventTypes as EventType[]);
    const events: Array<{ deliveryId: string; xid: bigint; id: bigint }> = [];
    const start = parseSnapshot(existing.startSnapshot);
    let after = FEED_START;
    for (;;) {
      const rows = await this.feed.read(
        { rootLedgerId: existing.rootLedgerId, ledgerId: existing.ledgerId },
        after,
        REDELIVER_READ_SIZE,
        types,
        { from, to },
      );
      const dispatched = rows.filter((row) => comparePositions({ xid: row.xid, id: row.id }, existing.cursor) <= 0);
      for (const row of dispatched) {
        // Events from before the endpoint existed were never its to deliver.
        if (!finishedBefore(start, row.xid)) events.push({ deliveryId: newId(), xid: row.xid, id: row.id });
      }
      if (events.length > REDELIVER_EVENTS_MAX) {
        throw new BadInputError(
          `the window holds more than ${REDELIVER_EVENTS_MAX} events; redeliver it in narrower windows`,
        );
      }
      if (rows.length < REDELIVER_READ_SIZE || dispatched.length < rows.length) break;
      const last = rows.at(-1)!;
      after = { xid: last.xid, id: last.id };
    }
    const count = await inTransaction(this.db.pool, this.attemptsMax, async (client) => {
      const current = await lockEndpoint(client, existing);
      if (current === null) throw new NotFoundError(`webhook endpoint ${endpointId} does not exist`);
      const made = await insertEventDeliveries(client, current, 'REDELIVERY', events);
      await insertAuditEventSql(client, auditEvent(origin, 'redeliverWebhooks', current.rootLedgerId, [current.id]));
      return made;
    });
    this.worker()?.poke();
    return count;
  }

  /** Sends a `webhook.test` event now, signed like any other, and answers with its delivery after the attempt. */
  async sendTest(origin: RequestOrigin, endpointId: string): Promise<WebhookDelivery> {
    const existing = await this.reachable(origin, 'sendTestWebhook', endpointId, 'endpointId');
    this.key();
    const worker = this.worker();
    if (worker === null) throw new ForbiddenError('webhook delivery is off on this server');
    const id = newId();
    const testEvent = {
      id: `evt_test_${id.replace(/-/g, '')}`,
      type: TEST_EVENT_TYPE,
      occurredAt: new Date().toISOString(),
      data: { test: true, endpointId: existing.id, ledgerId: existing.ledgerId },
    };
    await inTransaction(this.db.pool, this.attemptsMax, async (client) => {
      const current = await lockEndpoint(client, existing);
      if (current === null) throw new NotFoundError(`webhook endpoint ${endpointId} does not exist`);
      await insertTestDelivery(client, { id, endpointId: current.id, rootLedgerId: current.rootLedgerId, testEvent });
      await insertAuditEventSql(client, auditEvent(origin, 'sendTestWebhook', current.rootLedgerId, [current.id]));
    });
    const delivery = await worker.deliverNow({ rootLedgerId: existing.rootLedgerId, id });
    if (delivery === null) throw new NotFoundError(`webhook endpoint ${endpointId} was deleted during the test`);
    return (await this.toDeliveries(existing, [delivery]))[0]!;
  }

  async findById(origin: RequestOrigin, id: string): Promise<WebhookEndpoint | null> {
    authorize(origin.principal, 'webhookEndpoint');
    const endpointId = requireId(id, 'id');
    const root = await this.db.roots.rootOf('webhook_endpoints', endpointId);
    const row = root === null ? null : await selectEndpoint(this.db.pool, { rootLedgerId: root, id: endpointId });
    if (row === null) return null;
    const placement = (await this.ledgers.placements([row.ledgerId])).get(row.ledgerId);
    requireReach(origin.principal, placement ?? { rootLedgerId: row.rootLedgerId, ledgerPath: [] }, 'the endpoint');
    return toEndpoint(row);
  }

  /** The endpoints of a subtree the caller may see, oldest first. */
  async list(
    origin: RequestOrigin,
    ledger: { id: string; rootLedgerId: string },
    first: number | null | undefined,
    after: string | null | undefined,
  ): Promise<Connection<WebhookEndpoint>> {
    authorize(origin.principal, 'webhookEndpoints');
    const page = readPage(first, after);
    const rows = await this.db.stale(({ pool }) =>
      selectEndpointPage(pool, ledger.rootLedgerId, ledger.id, page.after, page.size),
    );
    return toConnection(rows.map(toEndpoint), page);
  }

  /** An endpoint's deliveries, newest first; the endpoint was already checked by whoever resolved it. */
  async deliveries(
    endpoint: WebhookEndpoint,
    first: number | null | undefined,
    after: string | null | undefined,
    status: WebhookDeliveryStatus | null | undefined,
  ): Promise<Connection<WebhookDelivery>> {
    const page = readPage(first, after);
    const rows = await this.db.stale(({ pool }) =>
      selectDeliveryPage(pool, endpoint, (status ?? null) as DeliveryStatus | null, page.after, page.size),
    );
    return toConnection(await this.toDeliveries(endpoint, rows), page);
  }

  private async toDeliveries(
    endpoint: { ledgerId: string; rootLedgerId: string; cursor?: unknown },
    rows: DeliveryRow[],
  ): Promise<WebhookDelivery[]> {
    const events = await this.feed.byKeys(
      rows
        .filter((row) => row.eventXid !== null)
        .map((row) => ({ rootLedgerId: row.rootLedgerId, xid: row.eventXid!, id: row.eventId! })),
    );
    const byKey = new Map(events.map((event) => [`${event.position.xid}:${event.position.id}`, event]));
    return rows.map((row) => {
      const event =
        row.testEvent !== null
          ? testLedgerEvent(row.testEvent, endpoint)
          : byKey.get(`${row.eventXid}:${row.eventId}`)!;
      return Object.assign(new WebhookDelivery(), {
        id: row.id,
        event,
        status: row.status as WebhookDeliveryStatus,
        attempts: row.attempts,
        lastAttemptAt: row.lastAttemptAt,
        nextAttemptAt: row.nextAttemptAt,
        lastResponseStatus: row.lastResponseStatus,
        lastError: row.lastError,
        createdAt: row.createdAt,
      });
    });
  }
}

/** A test send's synthetic event, shown as a LedgerEvent of the endpoint's ledger, with no transaction. */
function testLedgerEvent(
  stored: Record<string, unknown>,
  endpoint: { ledgerId: string; rootLedgerId: string },
): LedgerEvent {
  const test = stored as { id: string; type: string; occurredAt: string; data: Record<string, unknown> };
  return Object.assign(new LedgerEvent(), {
    id: test.id,
    type: test.type,
    // Not a place in the feed: it reads as the feed's start.
    cursor: encodeEventCursor(FEED_START),
    position: FEED_START,
    occurredAt: new Date(test.occurredAt),
    rootLedgerId: endpoint.rootLedgerId,
    ledgerId: endpoint.ledgerId,
    transactionId: null,
    accountId: null,
    data: test.data,
  });
}
