import type pg from 'pg';
import type { AuditEventRow } from '../audit/audit.js';
import { newId } from '../platform/ids.js';
import type { AccountStatus, BalanceDelta, BalanceTotals, NormalBalance, PlannedEntry, PostingAccount } from './postings.core.js';
import { HOT_ACCOUNT_SHARDS } from './postings.core.js';

/**
 * The SQL of one posting. Each function is one statement, run on the caller's transaction client:
 * the service owns the transaction boundary.
 */

export interface LockedAccount extends PostingAccount {
  ledgerPath: string[];
}

/**
 * Reads the accounts a posting touches. Customer accounts are locked FOR KEY SHARE (in id order) so a
 * concurrent close or freeze, which takes FOR UPDATE, waits for this posting or is seen by it; their
 * status comes from the locking read, which returns the newest committed version. System accounts never
 * change status and are read without a lock, so hot system accounts do not collect lockers.
 */
export async function readAccountsForPosting(client: pg.PoolClient, accountIds: string[]): Promise<Map<string, LockedAccount>> {
  const { rows } = await client.query<{
    id: string; root_ledger_id: string; ledger_id: string; code: string; status: AccountStatus; normal_balance: NormalBalance;
    allow_overdraft: boolean; overdraft_limit: string | null; is_system: boolean; path: string[];
  }>({
    name: 'posting_read_accounts',
    text: `WITH locked AS MATERIALIZED (
             SELECT a.id, a.status FROM accounts a
              WHERE a.id = ANY($1::uuid[]) AND NOT a.is_system
              ORDER BY a.id
                FOR KEY SHARE
           )
           SELECT a.id, a.root_ledger_id, a.ledger_id, a.code, COALESCE(locked.status, a.status)::text AS status,
                  a.normal_balance::text AS normal_balance, a.allow_overdraft, a.overdraft_limit::text AS overdraft_limit,
                  a.is_system, l.path::text[] AS path
             FROM accounts a
             JOIN ledgers l ON l.root_ledger_id = a.root_ledger_id AND l.id = a.ledger_id
             LEFT JOIN locked ON locked.id = a.id
            WHERE a.id = ANY($1::uuid[])`,
    values: [accountIds],
  });
  return new Map(
    rows.map((row) => [
      row.id,
      {
        id: row.id,
        rootLedgerId: row.root_ledger_id,
        ledgerId: row.ledger_id,
        code: row.code,
        status: row.status,
        normalBalance: row.normal_balance,
        allowOverdraft: row.allow_overdraft,
        overdraftLimit: row.overdraft_limit === null ? null : BigInt(row.overdraft_limit),
        isSystem: row.is_system,
        ledgerPath: row.path,
      },
    ]),
  );
}

export interface TransactionInsert {
  id: string;
  rootLedgerId: string;
  ledgerId: string;
  kind: string;
  status: string;
  idempotencyKey: string;
  requestHash: string;
  description: string | null;
  metadata: Record<string, unknown>;
  effectiveAt: Date;
  postedAt: Date;
  reversalOfId: string | null;
  isHold: boolean;
  timeoutAt: Date | null;
}

/** A balance change bound to the balance row (shard) it will be written to. */
export interface ShardedDelta extends BalanceDelta {
  shard: number;
}

/**
 * Hot unconstrained accounts write a random shard, so concurrent postings rarely meet on one row.
 * Pending amounts always live on shard 0, so settling a hold releases exactly the row it reserved on.
 */
export function assignShards(deltas: BalanceDelta[], random: () => number = Math.random): ShardedDelta[] {
  return deltas.map((delta) => {
    const touchesPending = delta.debitsPending !== 0n || delta.creditsPending !== 0n;
    return { ...delta, shard: delta.shardable && !touchesPending ? Math.floor(random() * HOT_ACCOUNT_SHARDS) : 0 };
  });
}

function deltaColumns(deltas: ShardedDelta[]) {
  return [
    deltas.map((delta) => delta.accountId),
    deltas.map((delta) => delta.assetId),
    deltas.map((delta) => delta.shard),
    deltas.map((delta) => delta.ledgerId),
    deltas.map((delta) => delta.normalBalance),
    deltas.map((delta) => delta.availableFloor?.toString() ?? null),
    deltas.map((delta) => delta.debitsPosted.toString()),
    deltas.map((delta) => delta.creditsPosted.toString()),
    deltas.map((delta) => delta.debitsPending.toString()),
    deltas.map((delta) => delta.creditsPending.toString()),
  ];
}

const DELTAS_FROM_PARAMS = `unnest($2::uuid[], $3::uuid[], $4::int2[], $5::uuid[], $6::text[], $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[])
  WITH ORDINALITY AS d(account_id, asset_id, shard, ledger_id, normal_balance, available_floor,
                       debits_posted, credits_posted, debits_pending, credits_pending, ord)`;

/**
 * Claims the idempotency key (and, for a reversal, the right to reverse), and makes sure every balance
 * row the posting will change exists (created at zero, which every floor allows). Returns false when
 * another transaction already holds the key or the reversal (and then creates nothing); a concurrent
 * claimant makes this wait until it commits or aborts. Zero rows are created here rather than by an upsert later because Postgres
 * checks a proposed INSERT row against the CHECK constraints before it looks for a conflict.
 */
export async function claimTransaction(client: pg.PoolClient, row: TransactionInsert, deltas: ShardedDelta[]): Promise<boolean> {
  const { rows } = await client.query<{ claimed: boolean }>({
    name: 'posting_claim_transaction',
    text: `WITH claim AS (
             INSERT INTO transactions (id, root_ledger_id, ledger_id, kind, status, idempotency_key, request_hash, description,
                                       metadata, effective_at, posted_at, reversal_of_id, is_hold, timeout_at)
             VALUES ($12, $1, $13, $14::"TransactionKind", $15::"TransactionStatus", $16, $17, $18, $19::jsonb, $20, $21, $22, $23, $24)
             ON CONFLICT DO NOTHING
             RETURNING 1
           ), zero_rows AS (
             INSERT INTO balances (root_ledger_id, account_id, asset_id, shard, ledger_id, normal_balance, available_floor)
             SELECT $1, d.account_id, d.asset_id, d.shard, d.ledger_id, d.normal_balance::"NormalBalance", d.available_floor
               FROM ${DELTAS_FROM_PARAMS}
              WHERE EXISTS (SELECT 1 FROM claim)
              ORDER BY d.ord
             ON CONFLICT DO NOTHING
           )
           SELECT EXISTS (SELECT 1 FROM claim) AS claimed`,
    values: [row.rootLedgerId, ...deltaColumns(deltas), row.id, row.ledgerId, row.kind, row.status, row.idempotencyKey, row.requestHash,
      row.description, JSON.stringify(row.metadata), row.effectiveAt, row.postedAt, row.reversalOfId, row.isHold, row.timeoutAt],
  });
  return rows[0]!.claimed;
}

/** A balance row as one posting left it. */
export interface AppliedBalance extends BalanceTotals {
  accountId: string;
  assetId: string;
  shard: number;
  version: number;
  updatedAt: Date;
}

/**
 * Applies every balance change of a posting in one statement. The rows are first locked in the plan's
 * sorted order, so two postings sharing rows lock them in the same order and cannot deadlock. A row is
 * changed only while its account stays within its floor (the WHERE, checked on the locked, newest row
 * version); the table's CHECK is the second guard. Returns the rows changed: a missing one was refused
 * for insufficient funds.
 */
export async function applyBalanceDeltas(client: pg.PoolClient, rootLedgerId: string, deltas: ShardedDelta[]): Promise<AppliedBalance[]> {
  const { rows } = await client.query<{
    account_id: string; asset_id: string; shard: number; debits_posted: string; credits_posted: string;
    debits_pending: string; credits_pending: string; version: string; updated_at: Date;
  }>({
    name: 'posting_apply_balances',
    text: `WITH d AS MATERIALIZED (
             SELECT * FROM ${DELTAS_FROM_PARAMS}
           ), locked AS MATERIALIZED (
             SELECT b.account_id, b.asset_id, b.shard
               FROM d JOIN balances b
                 ON b.root_ledger_id = $1 AND b.account_id = d.account_id AND b.asset_id = d.asset_id AND b.shard = d.shard
              ORDER BY d.ord
                FOR UPDATE OF b
           )
           UPDATE balances b SET
                  debits_posted   = b.debits_posted   + d.debits_posted,
                  credits_posted  = b.credits_posted  + d.credits_posted,
                  debits_pending  = b.debits_pending  + d.debits_pending,
                  credits_pending = b.credits_pending + d.credits_pending,
                  version         = b.version + 1,
                  updated_at      = now()
             FROM d JOIN locked l ON l.account_id = d.account_id AND l.asset_id = d.asset_id AND l.shard = d.shard
            WHERE b.root_ledger_id = $1 AND b.account_id = d.account_id AND b.asset_id = d.asset_id AND b.shard = d.shard
              AND (b.available_floor IS NULL
                   OR (CASE b.normal_balance
                         WHEN 'CREDIT' THEN (b.credits_posted + d.credits_posted) - (b.debits_posted + d.debits_posted)
                                            - (b.debits_pending + d.debits_pending)
                         ELSE (b.debits_posted + d.debits_posted) - (b.credits_posted + d.credits_posted)
                              - (b.credits_pending + d.credits_pending)
                       END) >= b.available_floor)
           RETURNING b.account_id, b.asset_id, b.shard, b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending,
                     b.version, b.updated_at`,
    values: [rootLedgerId, ...deltaColumns(deltas)],
  });
  return rows.map((row) => ({
    accountId: row.account_id,
    assetId: row.asset_id,
    shard: row.shard,
    debitsPosted: BigInt(row.debits_posted),
    creditsPosted: BigInt(row.credits_posted),
    debitsPending: BigInt(row.debits_pending),
    creditsPending: BigInt(row.credits_pending),
    version: Number(row.version),
    updatedAt: row.updated_at,
  }));
}

/** Writes the journal lines and the audit event together, in one statement. */
export async function insertEntriesAndAudit(
  client: pg.PoolClient,
  transaction: { id: string; rootLedgerId: string; effectiveAt: Date; isHold: boolean },
  entries: PlannedEntry[],
  audit: AuditEventRow,
): Promise<string[]> {
  const entryIds = entries.map(() => newId());
  await client.query({
    name: 'posting_insert_entries',
    text: `WITH journal AS (
             INSERT INTO entries (id, root_ledger_id, transaction_id, account_id, ledger_id, asset_id, direction, amount, effective_at, pending)
             SELECT e.id, $1, $2, e.account_id, e.ledger_id, e.asset_id, e.direction::"Direction", e.amount, $3, $17
               FROM unnest($4::uuid[], $5::uuid[], $6::uuid[], $7::uuid[], $8::text[], $9::int8[])
                    AS e(id, account_id, ledger_id, asset_id, direction, amount)
           )
           INSERT INTO audit_events (id, root_ledger_id, actor_type, actor_id, operation, target_ids, request_id, client_address)
           VALUES ($10, $1, $11, $12, $13, $14::uuid[], $15, $16)`,
    values: [
      transaction.rootLedgerId,
      transaction.id,
      transaction.effectiveAt,
      entryIds,
      entries.map((entry) => entry.accountId),
      entries.map((entry) => entry.ledgerId),
      entries.map((entry) => entry.assetId),
      entries.map((entry) => entry.direction),
      entries.map((entry) => entry.amount.toString()),
      audit.id,
      audit.actorType,
      audit.actorId,
      audit.operation,
      audit.targetIds,
      audit.requestId,
      audit.clientAddress,
      transaction.isHold,
    ],
  });
  return entryIds;
}

/** The audit row of a change that writes no entries (releasing a hold). */
export async function insertAudit(client: pg.PoolClient, audit: AuditEventRow): Promise<void> {
  await client.query(
    `INSERT INTO audit_events (id, root_ledger_id, actor_type, actor_id, operation, target_ids, request_id, client_address)
     VALUES ($1, $2, $3, $4, $5, $6::uuid[], $7, $8)`,
    [audit.id, audit.rootLedgerId, audit.actorType, audit.actorId, audit.operation, audit.targetIds, audit.requestId, audit.clientAddress],
  );
}

export interface SettlementClaim {
  rootLedgerId: string;
  holdId: string;
  action: 'POST' | 'VOID' | 'TIMEOUT';
  idempotencyKey: string | null;
  requestHash: string | null;
  settlementTransactionId: string | null;
  capturedAmount: bigint | null;
}

/**
 * Settles a hold at most once: the settlement row's key is the hold itself, and the hold's status moves
 * PENDING -> POSTED/VOIDED in the same statement. Returns false when the hold was already settled or the
 * idempotency key is taken; a concurrent settler makes this wait until it commits or aborts.
 */
export async function claimSettlement(client: pg.PoolClient, claim: SettlementClaim): Promise<boolean> {
  const { rows } = await client.query<{ settled: boolean }>({
    name: 'hold_claim_settlement',
    text: `WITH claim AS (
             INSERT INTO hold_settlements (root_ledger_id, pending_transaction_id, action, idempotency_key, request_hash, settlement_transaction_id, captured_amount)
             VALUES ($1, $2, $3, $4, $5, $8, $6)
             ON CONFLICT DO NOTHING
             RETURNING 1
           ), settle AS (
             UPDATE transactions SET status = $7::"TransactionStatus", posted_at = now()
              WHERE root_ledger_id = $1 AND id = $2 AND status = 'PENDING' AND EXISTS (SELECT 1 FROM claim)
             RETURNING 1
           )
           SELECT EXISTS (SELECT 1 FROM settle) AS settled`,
    values: [claim.rootLedgerId, claim.holdId, claim.action, claim.idempotencyKey, claim.requestHash, claim.capturedAmount?.toString() ?? null, claim.action === 'POST' ? 'POSTED' : 'VOIDED', claim.settlementTransactionId],
  });
  return rows[0]!.settled;
}


/** A backdated posting invalidates the point-in-time checkpoints it lands before. */
export async function deleteCheckpointsFrom(client: pg.PoolClient, rootLedgerId: string, accountIds: string[], effectiveAt: Date): Promise<void> {
  await client.query('DELETE FROM balance_checkpoints WHERE root_ledger_id = $1 AND account_id = ANY($2::uuid[]) AND as_of >= $3', [rootLedgerId, accountIds, effectiveAt]);
}

/**
 * Locks, in one global order (root, account, asset, shard), every existing balance row an atomic batch
 * will change, before its first item runs. Items then lock row by row in their own order without ever
 * waiting on each other; two batches sharing rows queue here instead of deadlocking halfway through.
 */
export async function lockBalancesInOrder(client: pg.PoolClient, rows: Array<{ rootLedgerId: string; accountId: string; assetId: string }>): Promise<void> {
  if (rows.length === 0) return;
  await client.query({
    name: 'posting_lock_batch_balances',
    text: `SELECT 1 FROM balances b
            WHERE (b.root_ledger_id, b.account_id, b.asset_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]))
            ORDER BY b.root_ledger_id, b.account_id, b.asset_id, b.shard
              FOR UPDATE`,
    values: [rows.map((row) => row.rootLedgerId), rows.map((row) => row.accountId), rows.map((row) => row.assetId)],
  });
}
