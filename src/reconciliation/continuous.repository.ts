import type pg from 'pg';
import type { FeedPosition } from '../events/events.core.js';
import { metadataKeyOf, type MatchRuleSpec } from './matcher.core.js';

/** SQL of continuous matching: the sources' feed cursors, the queue of records, and the matcher's inputs. */

export interface CursorRow {
  rootLedgerId: string;
  sourceId: string;
  ledgerId: string;
  cursor: FeedPosition;
}

/** Continuous sources without a cursor get one at `head`: postings before it are found from the records' side. */
export async function createMissingCursors(reader: pg.Pool, head: FeedPosition): Promise<number> {
  const { rowCount } = await reader.query(
    `INSERT INTO reconciliation_continuous_cursors (root_ledger_id, source_id, feed_xid, feed_id)
     SELECT s.root_ledger_id, s.id, $1::int8, $2::int8 FROM reconciliation_sources s
      WHERE s.continuous AND NOT EXISTS (
        SELECT 1 FROM reconciliation_continuous_cursors c WHERE c.root_ledger_id = s.root_ledger_id AND c.source_id = s.id)
     ON CONFLICT DO NOTHING`,
    [head.xid.toString(), head.id.toString()],
  );
  return rowCount ?? 0;
}

/**
 * The next continuous source after `after` that no one else is matching: its cursor and its source row
 * locked FOR UPDATE SKIP LOCKED, so another instance's matcher, or a COMMIT run (which locks the source),
 * makes this one pass it by.
 */
export async function claimNextSource(client: pg.PoolClient, after: string | null): Promise<CursorRow | null> {
  const { rows } = await client.query(
    `SELECT c.root_ledger_id, c.source_id, s.ledger_id, c.feed_xid::text AS feed_xid, c.feed_id::text AS feed_id
       FROM reconciliation_continuous_cursors c
       JOIN reconciliation_sources s ON s.root_ledger_id = c.root_ledger_id AND s.id = c.source_id
      WHERE s.continuous AND ($1::uuid IS NULL OR c.source_id > $1::uuid)
      ORDER BY c.source_id
      LIMIT 1
      FOR UPDATE OF c, s SKIP LOCKED`,
    [after],
  );
  const row = rows[0];
  if (row === undefined) return null;
  return {
    rootLedgerId: row.root_ledger_id,
    sourceId: row.source_id,
    ledgerId: row.ledger_id,
    cursor: { xid: BigInt(row.feed_xid), id: BigInt(row.feed_id) },
  };
}

export async function advanceSourceCursor(
  client: pg.PoolClient,
  source: CursorRow,
  cursor: FeedPosition,
): Promise<void> {
  await client.query(
    `UPDATE reconciliation_continuous_cursors SET feed_xid = $3::int8, feed_id = $4::int8, updated_at = now()
      WHERE root_ledger_id = $1 AND source_id = $2`,
    [source.rootLedgerId, source.sourceId, cursor.xid.toString(), cursor.id.toString()],
  );
}

/** Takes up to `limit` queued records of the source off the queue; the ids taken. */
export async function takePendingRecords(client: pg.PoolClient, source: CursorRow, limit: number): Promise<string[]> {
  const { rows } = await client.query<{ record_id: string }>(
    `DELETE FROM reconciliation_pending_records p
      WHERE (p.root_ledger_id, p.source_id, p.record_id) IN (
        SELECT q.root_ledger_id, q.source_id, q.record_id FROM reconciliation_pending_records q
         WHERE q.root_ledger_id = $1 AND q.source_id = $2 ORDER BY q.record_id LIMIT $3)
     RETURNING p.record_id`,
    [source.rootLedgerId, source.sourceId, limit],
  );
  return rows.map((row) => row.record_id);
}

/**
 * The record side of a continuous pass: the records taken off the queue, and the unmatched current
 * records whose reference is a reference field (by the source's rules) of one of the new transactions.
 */
export async function insertContinuousRecords(
  client: pg.PoolClient,
  source: CursorRow,
  recordIds: string[],
  transactionIds: string[],
  rules: readonly MatchRuleSpec[],
): Promise<void> {
  const keys = rules.map((rule) => metadataKeyOf(rule.referenceField)).filter((key) => key !== null);
  const byKey = rules.some((rule) => rule.referenceField === 'idempotencyKey');
  await client.query(
    `WITH refs AS (
       SELECT t.idempotency_key AS reference FROM transactions t
        WHERE $5::boolean AND t.root_ledger_id = $1 AND t.id = ANY ($4::uuid[])
       UNION
       SELECT t.metadata ->> k.key FROM transactions t, unnest($6::text[]) AS k(key)
        WHERE t.root_ledger_id = $1 AND t.id = ANY ($4::uuid[]) AND t.metadata ? k.key
     ), candidates AS (
       SELECT r.id FROM reconciliation_records r
        WHERE r.root_ledger_id = $1 AND r.id = ANY ($3::uuid[])
       UNION
       SELECT r.id FROM reconciliation_records r JOIN refs ON refs.reference = r.reference
        WHERE r.root_ledger_id = $1 AND r.source_id = $2 AND r.is_current
     )
     INSERT INTO rr_records (record_id, external_id, asset_id, amount, occurred_at, reference, account_code, in_window)
     SELECT r.id, r.external_id, r.asset_id, CASE WHEN r.direction = 'CREDIT' THEN r.amount ELSE -r.amount END,
            r.occurred_at, r.reference, r.account_code, false
       FROM reconciliation_records r JOIN candidates c ON c.id = r.id
      WHERE r.root_ledger_id = $1 AND r.is_current AND r.status <> 'EXCLUDED'
        AND NOT EXISTS (SELECT 1 FROM reconciliation_matches m WHERE m.root_ledger_id = r.root_ledger_id AND m.record_id = r.id)`,
    [source.rootLedgerId, source.sourceId, recordIds, transactionIds, byKey, keys],
  );
}

/**
 * Whether any unmatched current record of the source has a reference field of the new transactions: most
 * postings (transfers no partner reports) have none, and then the pass creates no temporary tables.
 */
export async function anyReferencingRecords(
  client: pg.PoolClient,
  source: CursorRow,
  transactionIds: string[],
  rules: readonly MatchRuleSpec[],
): Promise<boolean> {
  const keys = rules.map((rule) => metadataKeyOf(rule.referenceField)).filter((key) => key !== null);
  const byKey = rules.some((rule) => rule.referenceField === 'idempotencyKey');
  const { rows } = await client.query<{ found: boolean }>(
    `WITH refs AS (
       SELECT t.idempotency_key AS reference FROM transactions t
        WHERE $4::boolean AND t.root_ledger_id = $1 AND t.id = ANY ($3::uuid[])
       UNION
       SELECT t.metadata ->> k.key FROM transactions t, unnest($5::text[]) AS k(key)
        WHERE t.root_ledger_id = $1 AND t.id = ANY ($3::uuid[]) AND t.metadata ? k.key
     )
     SELECT EXISTS (
       SELECT 1 FROM reconciliation_records r JOIN refs ON refs.reference = r.reference
        WHERE r.root_ledger_id = $1 AND r.source_id = $2 AND r.is_current AND r.status <> 'EXCLUDED'
        AND NOT EXISTS (SELECT 1 FROM reconciliation_matches m WHERE m.root_ledger_id = r.root_ledger_id AND m.record_id = r.id)) AS found`,
    [source.rootLedgerId, source.sourceId, transactionIds, byKey, keys],
  );
  return rows[0]!.found;
}

/**
 * Transactions of the root whose reference field (by the source's rules) equals a reference of the pass's
 * records. By idempotency key this is the unique index; by a metadata key it reads the root's transactions
 * (no index on metadata), which is what a metadata rule on a continuous source costs per queued batch.
 */
export async function selectTransactionsByReference(
  client: pg.PoolClient,
  rootLedgerId: string,
  rules: readonly MatchRuleSpec[],
): Promise<string[]> {
  const keys = rules.map((rule) => metadataKeyOf(rule.referenceField)).filter((key) => key !== null);
  const byKey = rules.some((rule) => rule.referenceField === 'idempotencyKey');
  const { rows } = await client.query<{ id: string }>(
    `WITH refs AS (SELECT DISTINCT reference FROM rr_records WHERE reference IS NOT NULL)
     SELECT t.id FROM transactions t JOIN refs ON refs.reference = t.idempotency_key
      WHERE $2::boolean AND t.root_ledger_id = $1
     UNION
     SELECT t.id FROM transactions t, unnest($3::text[]) AS k(key)
      WHERE cardinality($3::text[]) > 0 AND t.root_ledger_id = $1
        AND t.metadata ->> k.key IN (SELECT reference FROM refs)`,
    [rootLedgerId, byKey, keys],
  );
  return rows.map((row) => row.id);
}

/** The pass's matches, made under the exclusive keys; the number made. */
export async function insertContinuousMatches(client: pg.PoolClient, source: CursorRow): Promise<number> {
  const { rows } = await client.query(
    `WITH inserted AS (
       INSERT INTO reconciliation_matches (root_ledger_id, source_id, transaction_id, record_id, matched_by, rule_id)
       SELECT $1, $2, p.transaction_id, p.record_id, 'CONTINUOUS', p.rule_id FROM rr_pairs p WHERE p.kind = 'MATCH'
       ON CONFLICT DO NOTHING
       RETURNING 1
     )
     SELECT count(*)::int AS made FROM inserted`,
    [source.rootLedgerId, source.sourceId],
  );
  return rows[0]!.made;
}
