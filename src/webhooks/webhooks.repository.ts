import type pg from 'pg';
import type { FeedPosition } from '../events/events.core.js';

/**
 * All SQL of webhooks, raw through pg: the dispatcher's and the workers' claims need FOR UPDATE SKIP
 * LOCKED, and the management writes share one transaction with them (endpoint row locks), so every
 * function takes the pool or a transaction's client.
 */
type Reader = pg.Pool | pg.PoolClient;

export type EndpointStatus = 'ENABLED' | 'DISABLED';
export type DeliveryStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';
export type DeliveryOrigin = 'FEED' | 'REDELIVERY' | 'TEST';

export interface EndpointRow {
  id: string;
  rootLedgerId: string;
  ledgerId: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  status: EndpointStatus;
  disabledReason: string | null;
  secretEncrypted: Buffer;
  previousSecretEncrypted: Buffer | null;
  previousExpiresAt: Date | null;
  cursor: FeedPosition;
  /** pg_current_snapshot() when the endpoint was created (endpoint-start.core.ts). */
  startSnapshot: string;
  failingSince: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

interface RawEndpoint {
  id: string;
  root_ledger_id: string;
  ledger_id: string;
  url: string;
  description: string | null;
  event_types: string[];
  status: EndpointStatus;
  disabled_reason: string | null;
  secret_encrypted: Buffer;
  previous_secret_encrypted: Buffer | null;
  previous_expires_at: Date | null;
  cursor_xid: string;
  cursor_id: string;
  start_snapshot: string;
  failing_since: Date | null;
  created_at: Date;
  updated_at: Date;
}

const ENDPOINT_COLUMNS = `w.id, w.root_ledger_id, w.ledger_id, w.url, w.description, w.event_types, w.status,
  w.disabled_reason, w.secret_encrypted, w.previous_secret_encrypted, w.previous_expires_at,
  w.cursor_xid::text AS cursor_xid, w.cursor_id::text AS cursor_id, w.start_snapshot, w.failing_since, w.created_at, w.updated_at`;

function toEndpoint(row: RawEndpoint): EndpointRow {
  return {
    id: row.id,
    rootLedgerId: row.root_ledger_id,
    ledgerId: row.ledger_id,
    url: row.url,
    description: row.description,
    eventTypes: row.event_types,
    status: row.status,
    disabledReason: row.disabled_reason,
    secretEncrypted: row.secret_encrypted,
    previousSecretEncrypted: row.previous_secret_encrypted,
    previousExpiresAt: row.previous_expires_at,
    cursor: { xid: BigInt(row.cursor_xid), id: BigInt(row.cursor_id) },
    startSnapshot: row.start_snapshot,
    failingSince: row.failing_since,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function insertEndpoint(
  client: pg.PoolClient,
  row: {
    id: string;
    rootLedgerId: string;
    ledgerId: string;
    url: string;
    description: string | null;
    eventTypes: string[];
    secretEncrypted: Buffer;
    cursor: FeedPosition;
    startSnapshot: string;
  },
): Promise<EndpointRow> {
  const { rows } = await client.query<RawEndpoint>(
    `INSERT INTO webhook_endpoints AS w (id, root_ledger_id, ledger_id, url, description, event_types, secret_encrypted,
                                         cursor_xid, cursor_id, start_snapshot)
     VALUES ($1, $2, $3, $4, $5, $6::text[], $7, $8::int8, $9::int8, $10)
     RETURNING ${ENDPOINT_COLUMNS}`,
    [
      row.id,
      row.rootLedgerId,
      row.ledgerId,
      row.url,
      row.description,
      row.eventTypes,
      row.secretEncrypted,
      row.cursor.xid.toString(),
      row.cursor.id.toString(),
      row.startSnapshot,
    ],
  );
  return toEndpoint(rows[0]!);
}

/**
 * A snapshot of one tree's writers: which transactions had finished, and which were still running, where
 * the tree's events are written (on Citus, the worker holding the root: transaction ids are a node's own).
 */
export async function selectSnapshot(
  client: pg.PoolClient,
  rootLedgerId: string,
): Promise<{ snapshot: string; xmin: bigint }> {
  const { rows } = await client.query<{ snapshot: string; xmin: string }>(
    'SELECT snapshot, xmin::text AS xmin FROM ledger_events_snapshot($1)',
    [rootLedgerId],
  );
  return { snapshot: rows[0]!.snapshot, xmin: BigInt(rows[0]!.xmin) };
}

/** A row of a tree named by its key: root and id (docs/citus-routing.md). */
export interface RowKey {
  rootLedgerId: string;
  id: string;
}

export async function selectEndpoint(reader: Reader, key: RowKey): Promise<EndpointRow | null> {
  const { rows } = await reader.query<RawEndpoint>(
    `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints w WHERE w.root_ledger_id = $1 AND w.id = $2`,
    [key.rootLedgerId, key.id],
  );
  return rows[0] ? toEndpoint(rows[0]) : null;
}

/** Waits for a dispatcher or worker that holds the row, so that a change never races its bookkeeping. */
export async function lockEndpoint(client: pg.PoolClient, key: RowKey): Promise<EndpointRow | null> {
  const { rows } = await client.query<RawEndpoint>(
    `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints w WHERE w.root_ledger_id = $1 AND w.id = $2 FOR UPDATE`,
    [key.rootLedgerId, key.id],
  );
  return rows[0] ? toEndpoint(rows[0]) : null;
}

/** The endpoints of a subtree (every ledger under `ledgerId`), oldest first, one more than the page. */
export async function selectEndpointPage(
  reader: Reader,
  rootLedgerId: string,
  ledgerId: string,
  after: string | null,
  size: number,
): Promise<EndpointRow[]> {
  const { rows } = await reader.query<RawEndpoint>(
    `SELECT ${ENDPOINT_COLUMNS}
       FROM webhook_endpoints w
       JOIN ledgers l ON l.root_ledger_id = w.root_ledger_id AND l.id = w.ledger_id
      WHERE w.root_ledger_id = $1 AND l.path @> ARRAY[$2::uuid] AND ($3::uuid IS NULL OR w.id > $3::uuid)
      ORDER BY w.id
      LIMIT $4`,
    [rootLedgerId, ledgerId, after, size + 1],
  );
  return rows.map(toEndpoint);
}

export interface EndpointChanges {
  url?: string;
  description?: string | null;
  eventTypes?: string[];
  status?: EndpointStatus;
  disabledReason?: string | null;
  failingSince?: Date | null;
  secretEncrypted?: Buffer;
  previousSecretEncrypted?: Buffer | null;
  previousExpiresAt?: Date | null;
}

const CHANGE_COLUMNS: Record<keyof EndpointChanges, string> = {
  url: 'url',
  description: 'description',
  eventTypes: 'event_types',
  status: 'status',
  disabledReason: 'disabled_reason',
  failingSince: 'failing_since',
  secretEncrypted: 'secret_encrypted',
  previousSecretEncrypted: 'previous_secret_encrypted',
  previousExpiresAt: 'previous_expires_at',
};

export async function updateEndpoint(
  client: pg.PoolClient,
  key: RowKey,
  changes: EndpointChanges,
): Promise<EndpointRow> {
  const sets: string[] = ['updated_at = now()'];
  const values: unknown[] = [key.rootLedgerId, key.id];
  for (const [field, column] of Object.entries(CHANGE_COLUMNS) as Array<[keyof EndpointChanges, string]>) {
    if (changes[field] === undefined) continue;
    values.push(changes[field]);
    sets.push(`${column} = $${values.length}`);
  }
  const { rows } = await client.query<RawEndpoint>(
    `UPDATE webhook_endpoints w SET ${sets.join(', ')} WHERE w.root_ledger_id = $1 AND w.id = $2 RETURNING ${ENDPOINT_COLUMNS}`,
    values,
  );
  return toEndpoint(rows[0]!);
}

/** Deletes the endpoint and, by cascade, its deliveries. */
export async function deleteEndpoint(client: pg.PoolClient, key: RowKey): Promise<void> {
  await client.query('DELETE FROM webhook_endpoints WHERE root_ledger_id = $1 AND id = $2', [key.rootLedgerId, key.id]);
}

/**
 * The trees that have enabled endpoints, at most `limit`, in sorted order starting at `from` (the trees before
 * it come last): where a dispatch pass goes, resuming where the last one stopped. A read across tenants
 * without locks; every claim that follows names one of these roots.
 */
export async function selectDispatchRoots(pool: pg.Pool, from: string | null, limit: number): Promise<string[]> {
  const { rows } = await pool.query<{ root_ledger_id: string }>({
    name: 'webhook-dispatch-roots',
    text: `SELECT w.root_ledger_id FROM webhook_endpoints w
            WHERE w.status = 'ENABLED'
            GROUP BY w.root_ledger_id
            ORDER BY ($1::uuid IS NOT NULL AND w.root_ledger_id < $1::uuid), w.root_ledger_id
            LIMIT $2`,
    values: [from, limit],
  });
  return rows.map((row) => row.root_ledger_id);
}

/**
 * Enabled endpoints of one tree after `afterId`, locked for one dispatch pass; an endpoint another instance
 * is dispatching is skipped, not waited for. One tree per statement: on Citus a lock must name its shard.
 */
export async function claimEndpointsForDispatch(
  client: pg.PoolClient,
  rootLedgerId: string,
  afterId: string | null,
  limit: number,
): Promise<EndpointRow[]> {
  const { rows } = await client.query<RawEndpoint>(
    `SELECT ${ENDPOINT_COLUMNS}
       FROM webhook_endpoints w
      WHERE w.root_ledger_id = $1 AND w.status = 'ENABLED' AND ($2::uuid IS NULL OR w.id > $2::uuid)
      ORDER BY w.id
      LIMIT $3
      FOR UPDATE SKIP LOCKED`,
    [rootLedgerId, afterId, limit],
  );
  return rows.map(toEndpoint);
}

export async function advanceCursor(client: pg.PoolClient, key: RowKey, cursor: FeedPosition): Promise<void> {
  await client.query(
    'UPDATE webhook_endpoints SET cursor_xid = $3::int8, cursor_id = $4::int8 WHERE root_ledger_id = $1 AND id = $2',
    [key.rootLedgerId, key.id, cursor.xid.toString(), cursor.id.toString()],
  );
}

/** One delivery per event; a feed delivery already made for an event is left alone (unique index). */
export async function insertEventDeliveries(
  client: pg.PoolClient,
  endpoint: { id: string; rootLedgerId: string },
  origin: 'FEED' | 'REDELIVERY',
  events: Array<{ deliveryId: string; xid: bigint; id: bigint }>,
): Promise<number> {
  if (events.length === 0) return 0;
  const result = await client.query(
    `INSERT INTO webhook_deliveries (id, endpoint_id, root_ledger_id, origin, event_xid, event_id, next_attempt_at)
     SELECT k.id, $1, $2, $3, k.xid, k.event_id, now()
       FROM unnest($4::uuid[], $5::int8[], $6::int8[]) WITH ORDINALITY AS k(id, xid, event_id, n)
      ORDER BY k.n
     ON CONFLICT (root_ledger_id, endpoint_id, event_xid, event_id) WHERE origin = 'FEED' DO NOTHING`,
    [
      endpoint.id,
      endpoint.rootLedgerId,
      origin,
      events.map((event) => event.deliveryId),
      events.map((event) => event.xid.toString()),
      events.map((event) => event.id.toString()),
    ],
  );
  return result.rowCount ?? 0;
}

export async function insertTestDelivery(
  client: Reader,
  row: { id: string; endpointId: string; rootLedgerId: string; testEvent: Record<string, unknown> },
): Promise<void> {
  await client.query(
    `INSERT INTO webhook_deliveries (id, endpoint_id, root_ledger_id, origin, test_event, next_attempt_at)
     VALUES ($1, $2, $3, 'TEST', $4::jsonb, now())`,
    [row.id, row.endpointId, row.rootLedgerId, JSON.stringify(row.testEvent)],
  );
}

/** After a re-enable, pending deliveries are due at once rather than at the end of a long backoff. */
export async function makePendingDue(client: pg.PoolClient, endpoint: RowKey): Promise<void> {
  await client.query(
    `UPDATE webhook_deliveries SET next_attempt_at = now()
      WHERE root_ledger_id = $1 AND endpoint_id = $2 AND status = 'PENDING' AND claimed_until IS NULL`,
    [endpoint.rootLedgerId, endpoint.id],
  );
}

export interface DeliveryRow {
  id: string;
  endpointId: string;
  rootLedgerId: string;
  origin: DeliveryOrigin;
  eventXid: bigint | null;
  eventId: bigint | null;
  testEvent: Record<string, unknown> | null;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  lastResponseStatus: number | null;
  lastError: string | null;
  createdAt: Date;
}

interface RawDelivery {
  id: string;
  endpoint_id: string;
  root_ledger_id: string;
  origin: DeliveryOrigin;
  event_xid: string | null;
  event_id: string | null;
  test_event: Record<string, unknown> | null;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_response_status: number | null;
  last_error: string | null;
  created_at: Date;
}

const DELIVERY_COLUMNS = `d.id, d.endpoint_id, d.root_ledger_id, d.origin, d.event_xid::text AS event_xid,
  d.event_id::text AS event_id, d.test_event, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at,
  d.last_response_status, d.last_error, d.created_at`;

function toDelivery(row: RawDelivery): DeliveryRow {
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    rootLedgerId: row.root_ledger_id,
    origin: row.origin,
    eventXid: row.event_xid === null ? null : BigInt(row.event_xid),
    eventId: row.event_id === null ? null : BigInt(row.event_id),
    testEvent: row.test_event,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastAttemptAt: row.last_attempt_at,
    lastResponseStatus: row.last_response_status,
    lastError: row.last_error,
    createdAt: row.created_at,
  };
}

export async function selectDelivery(reader: Reader, key: RowKey): Promise<DeliveryRow | null> {
  const { rows } = await reader.query<RawDelivery>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.root_ledger_id = $1 AND d.id = $2`,
    [key.rootLedgerId, key.id],
  );
  return rows[0] ? toDelivery(rows[0]) : null;
}

/** An endpoint's deliveries, newest first, one more than the page. */
export async function selectDeliveryPage(
  reader: Reader,
  endpoint: RowKey,
  status: DeliveryStatus | null,
  before: string | null,
  size: number,
): Promise<DeliveryRow[]> {
  const { rows } = await reader.query<RawDelivery>(
    `SELECT ${DELIVERY_COLUMNS}
       FROM webhook_deliveries d
      WHERE d.root_ledger_id = $5 AND d.endpoint_id = $1 AND ($2::text IS NULL OR d.status = $2::text)
        AND ($3::uuid IS NULL OR d.id < $3::uuid)
      ORDER BY d.id DESC
      LIMIT $4`,
    [endpoint.id, status, before, size + 1, endpoint.rootLedgerId],
  );
  return rows.map(toDelivery);
}

/** A delivery claimed for one attempt, with what sending it needs. */
export interface ClaimedDelivery extends DeliveryRow {
  url: string;
  secretEncrypted: Buffer;
  /** Only while the rotation overlap lasts. */
  previousSecretEncrypted: Buffer | null;
}

/**
 * The previous secret comes with its expiry, compared with the claim's own time (last_attempt_at, set to
 * now() by the claim) here rather than in RETURNING: Citus refuses a non-IMMUTABLE function such as now()
 * in a RETURNING clause.
 */
const CLAIMED_COLUMNS = `${DELIVERY_COLUMNS}, w.url, w.secret_encrypted, w.previous_secret_encrypted, w.previous_expires_at`;

type RawClaimed = RawDelivery & {
  url: string;
  secret_encrypted: Buffer;
  previous_secret_encrypted: Buffer | null;
  previous_expires_at: Date | null;
};

function toClaimed(row: RawClaimed): ClaimedDelivery {
  const claimedAt = row.last_attempt_at;
  const overlapping =
    row.previous_expires_at !== null && claimedAt !== null && row.previous_expires_at.getTime() > claimedAt.getTime();
  return {
    ...toDelivery(row),
    url: row.url,
    secretEncrypted: row.secret_encrypted,
    previousSecretEncrypted: overlapping ? row.previous_secret_encrypted : null,
  };
}

/**
 * The trees with deliveries due now to enabled endpoints, at most `limit`, in sorted order starting after
 * `after` (the trees up to it come last, so that fills take turns): where a fill of the delivery workers claims. A read across tenants without locks (one probe of the due index per enabled
 * endpoint); each claim that follows names one of these roots.
 */
export async function selectDueRoots(pool: pg.Pool, after: string | null, limit: number): Promise<string[]> {
  const { rows } = await pool.query<{ root_ledger_id: string }>({
    name: 'webhook-due-roots',
    text: `SELECT w.root_ledger_id FROM webhook_endpoints w
            WHERE w.status = 'ENABLED'
              AND EXISTS (SELECT 1 FROM webhook_deliveries d
                           WHERE d.root_ledger_id = w.root_ledger_id AND d.endpoint_id = w.id
                             AND d.status = 'PENDING' AND d.next_attempt_at <= now())
            GROUP BY w.root_ledger_id
            ORDER BY ($1::uuid IS NOT NULL AND w.root_ledger_id <= $1::uuid), w.root_ledger_id
            LIMIT $2`,
    values: [after, limit],
  });
  return rows.map((row) => row.root_ledger_id);
}

/**
 * Claims due deliveries of one tree's enabled endpoints for one attempt each: at most `limit` in all, and per
 * endpoint no more than `perEndpoint` minus what is already in flight to it (leases not yet run out, on any
 * instance). Candidates are taken per endpoint (at most `perEndpoint` each, oldest due first) and chosen
 * round-robin across endpoints, so a partner with a backlog of thousands due cannot fill the claim and
 * starve the others. The claim counts the attempt and moves next_attempt_at to the end of the lease, so a
 * claim whose worker dies is due again, to anyone, when the lease runs out. Rows another claim holds are
 * skipped. One statement, so the claim is committed before anything is sent; one tree per statement, so
 * that on Citus it runs on the tree's shard (a lock across shards is refused there). Every table named in it
 * filters on the root itself: a root reached only through a join (the lateral's `d.root_ledger_id =
 * w.root_ledger_id`) leaves Citus unable to route the locking subquery ("cannot push down this subquery").
 *
 * Two instances counting the same endpoint's in-flight deliveries at once may together exceed
 * `perEndpoint` for a moment; each instance also bounds itself exactly in memory (`busyHere`).
 */
export async function claimDueDeliveries(
  pool: pg.Pool,
  rootLedgerId: string,
  claimant: string,
  limit: number,
  perEndpoint: number,
  leaseMs: number,
  busyHere: { endpointIds: string[]; counts: number[] },
): Promise<ClaimedDelivery[]> {
  const { rows } = await pool.query<RawClaimed>({
    name: 'webhook-claim-due',
    text: `WITH locked AS (
             SELECT c.root_ledger_id, c.id, c.endpoint_id, c.next_attempt_at
               FROM webhook_endpoints w
              CROSS JOIN LATERAL (
                    SELECT d.root_ledger_id, d.id, d.endpoint_id, d.next_attempt_at
                      FROM webhook_deliveries d
                     WHERE d.root_ledger_id = $7 AND d.endpoint_id = w.id
                       AND d.status = 'PENDING' AND d.next_attempt_at <= now()
                     ORDER BY d.next_attempt_at, d.id
                     LIMIT $3
                       FOR UPDATE SKIP LOCKED) c
              WHERE w.root_ledger_id = $7 AND w.status = 'ENABLED'),
           busy AS (
             SELECT b.endpoint_id, count(*) AS n
               FROM webhook_deliveries b
              WHERE b.root_ledger_id = $7 AND b.status = 'PENDING' AND b.next_attempt_at > now()
                AND b.claimed_until > now() AND b.endpoint_id IN (SELECT endpoint_id FROM locked)
              GROUP BY b.endpoint_id),
           here AS (
             SELECT * FROM unnest($5::uuid[], $6::int4[]) AS h(endpoint_id, n)),
           ranked AS (
             SELECT l.root_ledger_id, l.id, l.next_attempt_at,
                    row_number() OVER (PARTITION BY l.endpoint_id ORDER BY l.next_attempt_at, l.id) AS turn,
                    GREATEST(coalesce(b.n, 0), coalesce(h.n, 0)) AS busy
               FROM locked l
               LEFT JOIN busy b ON b.endpoint_id = l.endpoint_id
               LEFT JOIN here h ON h.endpoint_id = l.endpoint_id),
           chosen AS (
             SELECT root_ledger_id, id FROM ranked WHERE turn + busy <= $3 ORDER BY turn, next_attempt_at, id LIMIT $2)
           ${takeClaim('$1', '$4', '$7')}`,
    values: [claimant, limit, perEndpoint, leaseMs, busyHere.endpointIds, busyHere.counts, rootLedgerId],
  });
  return rows.map(toClaimed);
}

/**
 * What taking a claim writes, for the deliveries of one tree a `chosen` CTE names: the claimant, a lease of
 * `lease` milliseconds (the delivery is due again when it ends, should the claimant die), and the attempt,
 * counted when claimed. `claimant`, `lease` and `root` are the statement's parameter placeholders.
 */
function takeClaim(claimant: string, lease: string, root: string): string {
  return `UPDATE webhook_deliveries d
        SET claimed_by = ${claimant}, claimed_until = now() + ${lease}::float8 * interval '1 millisecond',
            next_attempt_at = now() + ${lease}::float8 * interval '1 millisecond',
            attempts = d.attempts + 1, last_attempt_at = now()
       FROM chosen, webhook_endpoints w
      WHERE d.root_ledger_id = ${root} AND d.root_ledger_id = chosen.root_ledger_id AND d.id = chosen.id
        AND w.root_ledger_id = ${root} AND w.id = d.endpoint_id
  RETURNING ${CLAIMED_COLUMNS}`;
}

/** Claims one delivery by id whatever its endpoint's state (a test send); null when it is not claimable. */
export async function claimDelivery(
  pool: pg.Pool,
  key: RowKey,
  claimant: string,
  leaseMs: number,
): Promise<ClaimedDelivery | null> {
  const { rows } = await pool.query<RawClaimed>(
    `WITH chosen AS (
       SELECT d.root_ledger_id, d.id FROM webhook_deliveries d
        WHERE d.root_ledger_id = $4 AND d.id = $1 AND d.status = 'PENDING' AND d.next_attempt_at <= now()
        FOR UPDATE SKIP LOCKED)
     ${takeClaim('$2', '$3', '$4')}`,
    [key.id, claimant, leaseMs, key.rootLedgerId],
  );
  return rows[0] ? toClaimed(rows[0]) : null;
}

/**
 * Records the outcome of a claimed attempt, only if the claim is still this one (same claimant and same
 * attempt count): a worker whose lease ran out and was claimed again elsewhere records nothing.
 */
export async function recordAttempt(
  client: pg.PoolClient,
  claim: { rootLedgerId: string; id: string; claimant: string; attempts: number },
  result: {
    status: DeliveryStatus;
    /** When PENDING: milliseconds from now. */
    retryInMs: number | null;
    responseStatus: number | null;
    error: string | null;
  },
): Promise<boolean> {
  const outcome = await client.query(
    `UPDATE webhook_deliveries
        SET status = $4::text, next_attempt_at = now() + $5::float8 * interval '1 millisecond',
            last_response_status = $6, last_error = $7, claimed_by = NULL, claimed_until = NULL
      WHERE root_ledger_id = $8 AND id = $1 AND claimed_by = $2 AND attempts = $3`,
    [
      claim.id,
      claim.claimant,
      claim.attempts,
      result.status,
      // Null (no next attempt) unless pending: computed here, as Citus refuses now() inside a CASE.
      result.status === 'PENDING' ? (result.retryInMs ?? 0) : null,
      result.responseStatus,
      result.error,
      claim.rootLedgerId,
    ],
  );
  return (outcome.rowCount ?? 0) > 0;
}

/** A success ends the endpoint's failing streak. */
export async function clearFailing(client: Reader, endpoint: RowKey): Promise<void> {
  await client.query(
    'UPDATE webhook_endpoints SET failing_since = NULL WHERE root_ledger_id = $1 AND id = $2 AND failing_since IS NOT NULL',
    [endpoint.rootLedgerId, endpoint.id],
  );
}

/**
 * A failure starts the streak if none runs; returns the endpoint with its streak's start. LEAST skips the
 * null of no streak and otherwise keeps the earlier start, as coalesce would: Citus refuses now() inside a
 * coalesce or CASE, and evaluates it on the coordinator here.
 */
export async function markFailing(client: pg.PoolClient, endpoint: RowKey): Promise<EndpointRow | null> {
  const { rows } = await client.query<RawEndpoint>(
    `UPDATE webhook_endpoints w SET failing_since = LEAST(w.failing_since, now())
      WHERE w.root_ledger_id = $1 AND w.id = $2 RETURNING ${ENDPOINT_COLUMNS}`,
    [endpoint.rootLedgerId, endpoint.id],
  );
  return rows[0] ? toEndpoint(rows[0]) : null;
}

/** Disables an endpoint that is still enabled; false when it already was (another worker got there). */
export async function disableEndpoint(client: pg.PoolClient, endpoint: RowKey, reason: string): Promise<boolean> {
  const outcome = await client.query(
    `UPDATE webhook_endpoints SET status = 'DISABLED', disabled_reason = $3, updated_at = now()
      WHERE root_ledger_id = $1 AND id = $2 AND status = 'ENABLED'`,
    [endpoint.rootLedgerId, endpoint.id, reason],
  );
  return (outcome.rowCount ?? 0) > 0;
}

/**
 * Deletes at most `limit` finished deliveries made before `before`, oldest first. Delivery ids are UUIDv7,
 * so "made before" is an id range on the primary key: no index of its own.
 */
export async function deleteFinishedDeliveries(pool: pg.Pool, before: string, limit: number): Promise<number> {
  const outcome = await pool.query(
    `DELETE FROM webhook_deliveries
      WHERE id IN (SELECT id FROM webhook_deliveries
                    WHERE id < $1::uuid AND status <> 'PENDING'
                    ORDER BY id
                    LIMIT $2)`,
    [before, limit],
  );
  return outcome.rowCount ?? 0;
}
