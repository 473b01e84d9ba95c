import type pg from 'pg';
import { toException, type ExceptionRow } from './run.repository.js';

/** SQL of resolutions: what a resolution reads about its exception's record and accounts, and writes. */

export interface RecordBrief {
  id: string;
  externalId: string;
  assetId: string;
  accountCode: string | null;
}

export async function selectRecordBrief(
  client: pg.PoolClient,
  rootLedgerId: string,
  id: string,
): Promise<RecordBrief | null> {
  const { rows } = await client.query(
    `SELECT id, external_id, asset_id, account_code FROM reconciliation_records WHERE root_ledger_id = $1 AND id = $2`,
    [rootLedgerId, id],
  );
  const row = rows[0];
  return row === undefined
    ? null
    : { id: row.id, externalId: row.external_id, assetId: row.asset_id, accountCode: row.account_code };
}

/** The non-system accounts of the subtree with this code (codes are unique per ledger, not per tree). */
export async function selectSubtreeAccountsByCode(
  client: pg.PoolClient,
  rootLedgerId: string,
  ledgerId: string,
  code: string,
): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>(
    `SELECT a.id FROM accounts a JOIN ledgers l ON l.root_ledger_id = a.root_ledger_id AND l.id = a.ledger_id
      WHERE a.root_ledger_id = $1 AND a.code = $3 AND NOT a.is_system AND l.path @> ARRAY[$2::uuid]
      ORDER BY a.id LIMIT 2`,
    [rootLedgerId, ledgerId, code],
  );
  return rows.map((row) => row.id);
}

/**
 * Whether a transaction may be linked to a record of the source: POSTED, in the source's root, with a
 * movement of a non-system account of the subtree in the record's asset.
 */
export async function transactionTouchesScope(
  client: pg.PoolClient,
  scope: { rootLedgerId: string; ledgerId: string },
  transactionId: string,
  assetId: string,
): Promise<'OK' | 'NOT_FOUND' | 'NOT_POSTED' | 'OUT_OF_SCOPE'> {
  const { rows } = await client.query<{ status: string; in_scope: boolean }>(
    `SELECT t.status::text AS status,
            EXISTS (SELECT 1 FROM entries e
                      JOIN accounts a ON a.root_ledger_id = e.root_ledger_id AND a.id = e.account_id
                      JOIN ledgers l ON l.root_ledger_id = e.root_ledger_id AND l.id = e.ledger_id
                     WHERE e.root_ledger_id = t.root_ledger_id AND e.transaction_id = t.id AND NOT e.pending
                       AND NOT a.is_system AND e.asset_id = $4 AND l.path @> ARRAY[$2::uuid]) AS in_scope
       FROM transactions t WHERE t.root_ledger_id = $1 AND t.id = $3`,
    [scope.rootLedgerId, scope.ledgerId, transactionId, assetId],
  );
  const row = rows[0];
  if (row === undefined) return 'NOT_FOUND';
  if (row.status !== 'POSTED') return 'NOT_POSTED';
  return row.in_scope ? 'OK' : 'OUT_OF_SCOPE';
}

/**
 * A manual match, under the exclusive keys: false when the transaction or the record is already matched
 * for the source (the insert changed nothing). The record reads MATCHED from then on (its status is derived
 * from reconciliation_matches).
 */
export async function insertManualMatch(
  client: pg.PoolClient,
  match: { rootLedgerId: string; sourceId: string; transactionId: string; recordId: string },
): Promise<boolean> {
  const { rows } = await client.query(
    `WITH inserted AS (
       INSERT INTO reconciliation_matches (root_ledger_id, source_id, transaction_id, record_id, matched_by)
       VALUES ($1, $2, $3, $4, 'MANUAL')
       ON CONFLICT DO NOTHING
       RETURNING record_id
     )
     SELECT record_id FROM inserted`,
    [match.rootLedgerId, match.sourceId, match.transactionId, match.recordId],
  );
  return rows.length === 1;
}

/** An explained record is set aside: later runs no longer report it. */
export async function excludeRecord(client: pg.PoolClient, rootLedgerId: string, recordId: string): Promise<void> {
  await client.query(
    `UPDATE reconciliation_records r SET status = 'EXCLUDED'
      WHERE r.root_ledger_id = $1 AND r.id = $2 AND r.status = 'UNMATCHED'
        AND NOT EXISTS (SELECT 1 FROM reconciliation_matches m WHERE m.root_ledger_id = r.root_ledger_id AND m.record_id = r.id)`,
    [rootLedgerId, recordId],
  );
}

export interface AccountBrief {
  id: string;
  code: string;
  normalBalance: 'CREDIT' | 'DEBIT';
}

export async function selectAccountBrief(
  client: pg.PoolClient,
  rootLedgerId: string,
  id: string,
): Promise<AccountBrief | null> {
  const { rows } = await client.query(
    `SELECT id, code, normal_balance::text AS normal_balance FROM accounts WHERE root_ledger_id = $1 AND id = $2`,
    [rootLedgerId, id],
  );
  const row = rows[0];
  return row === undefined ? null : { id: row.id, code: row.code, normalBalance: row.normal_balance };
}

export async function selectAssetCode(client: pg.PoolClient, rootLedgerId: string, id: string): Promise<string | null> {
  const { rows } = await client.query(`SELECT code FROM assets WHERE root_ledger_id = $1 AND id = $2`, [
    rootLedgerId,
    id,
  ]);
  return rows[0]?.code ?? null;
}

/** Postgres' unique_violation, and the index a second use of one resolution key meets. */
export const RESOLUTION_KEY_INDEX = 'reconciliation_exceptions_resolution_key';

export async function markResolved(
  client: pg.PoolClient,
  resolved: {
    rootLedgerId: string;
    id: string;
    resolution: string;
    note: string;
    resolutionKey: string;
    resolutionTransactionId: string | null;
    resolvedBy: string;
  },
): Promise<ExceptionRow> {
  const { rows } = await client.query(
    `UPDATE reconciliation_exceptions x
        SET status = 'RESOLVED', resolution = $3, note = $4, resolution_key = $5, resolution_transaction_id = $6,
            resolved_by = $7, resolved_at = now()
      WHERE x.root_ledger_id = $1 AND x.id = $2
      RETURNING x.id, x.root_ledger_id, x.run_id, x.source_id, x.kind, x.status, x.record_id, x.transaction_id,
                x.account_id, x.asset_id, x.expected_amount::text AS expected_amount, x.ledger_amount::text AS ledger_amount,
                x.difference::text AS difference, x.resolution, x.note, x.resolution_key, x.resolution_transaction_id,
                x.resolved_by, x.resolved_at, x.created_at`,
    [
      resolved.rootLedgerId,
      resolved.id,
      resolved.resolution,
      resolved.note,
      resolved.resolutionKey,
      resolved.resolutionTransactionId,
      resolved.resolvedBy,
    ],
  );
  return toException(rows[0]);
}
