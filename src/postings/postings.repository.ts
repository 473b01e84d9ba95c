import type pg from 'pg';
import type { Database } from '../platform/db.js';
import type { AuditEventRow } from '../audit/audit.js';
import type { BalanceTotals, NormalBalance } from '../balances/balances.core.js';
import type { AccountFacts, BalanceDelta, PlannedEntry, Refusal } from './postings.core.js';
import { HOT_ACCOUNT_SHARDS } from './postings.core.js';

/**
 * The SQL of postings. Each function is one statement; the engine owns the transaction boundary (a lone
 * apply_postings call is its own transaction).
 */

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

/** A balance row as one posting left it. */
export interface AppliedBalance extends BalanceTotals {
  accountId: string;
  assetId: string;
  shard: number;
  version: number;
  updatedAt: Date;
}

/** One posting planned: what apply_postings (migration 20261204100000) applies for one item. */
export interface PostingWrite {
  /** The transaction row whose idempotency key is claimed; null for a hold's release, which writes none. */
  transaction: TransactionInsert | null;
  /** Refuse unless every customer account it changes is ACTIVE; releasing a hold is allowed on any. */
  requireActive: boolean;
  deltas: ShardedDelta[];
  entries: Array<PlannedEntry & { id: string }>;
  audit: AuditEventRow;
  /** A backdated posting: its accounts' checkpoints from this instant on are dropped. */
  checkpointsFrom: Date | null;
}

/** Postings of one root ledger applied together, all or nothing; a single posting is a batch of one. */
export interface PostingBatch {
  rootLedgerId: string;
  /** The accounts touched; the customer ones are share-locked. */
  accounts: ReadonlyMap<string, { isSystem: boolean }>;
  /** In batch order; every item's audit event has the first one's actor and operation. */
  items: PostingWrite[];
}

/** Applied, or not at all because another transaction holds the idempotency key (or the reversal). */
export type PostingWriteOutcome = { claimed: true; balances: AppliedBalance[] } | { claimed: false };

/** Each item's outcome in batch order, or the refusal that left everything unwritten. */
export type BatchOutcome = { refused: null; items: PostingWriteOutcome[] } | { refused: Refusal };

const APPLY_POSTINGS_PARAMETERS = 43;

type OutcomeRow = BalanceRow & {
  item: number | null;
  outcome: 'APPLIED' | 'CLAIM_TAKEN' | Refusal['code'];
  refused_ids: string[] | null;
  account_status: string | null;
};

/**
 * Applies a batch of planned postings in one statement: one round trip whatever its size, and on a pool
 * in autocommit one database transaction. A refusal decided under the locks comes back as data, with
 * nothing written; the caller decides what error it is.
 */
export async function applyPostings(runner: pg.Pool | pg.PoolClient, batch: PostingBatch): Promise<BatchOutcome> {
  const { items } = batch;
  const actor = items[0]!.audit;
  const changes = items.flatMap((item, index) => item.deltas.map((delta) => ({ item: index + 1, delta })));
  const lines = items.flatMap((item, index) => item.entries.map((entry) => ({ item: index + 1, entry })));
  const targets = items.flatMap((item, index) => item.audit.targetIds.map((id) => ({ item: index + 1, id })));
  const rows = items.map((item) => item.transaction);
  const { rows: outcomes } = await runner.query<OutcomeRow>({
    name: 'apply_postings',
    text: `SELECT o_item AS item, o_outcome AS outcome, ${BALANCE_COLUMNS}, o_refused_ids AS refused_ids, o_account_status AS account_status
             FROM apply_postings(${parameterList(APPLY_POSTINGS_PARAMETERS)})`,
    values: [
      batch.rootLedgerId,
      customerAccountIds(batch.accounts),
      rows.map((row) => row?.id ?? null),
      items.map((item) => item.requireActive),
      rows.map((row) => row?.ledgerId ?? null),
      rows.map((row) => row?.kind ?? null),
      rows.map((row) => row?.status ?? null),
      rows.map((row) => row?.idempotencyKey ?? null),
      rows.map((row) => row?.requestHash ?? null),
      rows.map((row) => row?.description ?? null),
      rows.map((row) => (row === null ? null : JSON.stringify(row.metadata))),
      rows.map((row) => row?.effectiveAt ?? null),
      rows.map((row) => row?.postedAt ?? null),
      rows.map((row) => row?.reversalOfId ?? null),
      rows.map((row) => row?.isHold ?? false),
      rows.map((row) => row?.timeoutAt ?? null),
      items.map((item) => item.checkpointsFrom),
      items.map((item) => item.audit.id),
      actor.actorType,
      actor.actorId,
      actor.operation,
      actor.requestId,
      actor.clientAddress,
      targets.map(({ item }) => item),
      targets.map(({ id }) => id),
      changes.map(({ item }) => item),
      changes.map(({ delta }) => delta.accountId),
      changes.map(({ delta }) => delta.assetId),
      changes.map(({ delta }) => delta.shard),
      changes.map(({ delta }) => delta.ledgerId),
      changes.map(({ delta }) => delta.normalBalance),
      changes.map(({ delta }) => delta.availableFloor?.toString() ?? null),
      changes.map(({ delta }) => delta.debitsPosted.toString()),
      changes.map(({ delta }) => delta.creditsPosted.toString()),
      changes.map(({ delta }) => delta.debitsPending.toString()),
      changes.map(({ delta }) => delta.creditsPending.toString()),
      lines.map(({ item }) => item),
      lines.map(({ entry }) => entry.id),
      lines.map(({ entry }) => entry.accountId),
      lines.map(({ entry }) => entry.ledgerId),
      lines.map(({ entry }) => entry.assetId),
      lines.map(({ entry }) => entry.direction),
      lines.map(({ entry }) => entry.amount.toString()),
    ],
  });
  const refusal = outcomes.find((row) => row.outcome !== 'APPLIED' && row.outcome !== 'CLAIM_TAKEN');
  if (refusal !== undefined) {
    return {
      refused: {
        item: refusal.item! - 1,
        code: refusal.outcome as Refusal['code'],
        ids: refusal.refused_ids ?? [],
        accountStatus: refusal.account_status,
      },
    };
  }
  const taken = new Set(outcomes.filter((row) => row.outcome === 'CLAIM_TAKEN').map((row) => row.item! - 1));
  const final = new Map(
    outcomes
      .filter((row) => row.outcome === 'APPLIED')
      .map((row) => [rowKey(row.account_id, row.asset_id, row.shard), toAppliedBalance(row)]),
  );
  return { refused: null, items: balancesPerItem(items, taken, final) };
}

function rowKey(accountId: string, assetId: string, shard: number): string {
  return `${accountId}/${assetId}/${shard}`;
}

/**
 * Each applied item's balance rows as that item left them: a row as the batch left it, less the changes of
 * the items after it (and one version per such item). Walks the batch backwards, summing those changes.
 */
function balancesPerItem(
  items: PostingWrite[],
  taken: ReadonlySet<number>,
  final: ReadonlyMap<string, AppliedBalance>,
): PostingWriteOutcome[] {
  const later = new Map<string, BalanceTotals & { items: number }>();
  const outcomes: PostingWriteOutcome[] = new Array(items.length);
  for (let index = items.length - 1; index >= 0; index -= 1) {
    if (taken.has(index)) {
      outcomes[index] = { claimed: false };
      continue;
    }
    const balances = items[index]!.deltas.map((delta) => {
      const key = rowKey(delta.accountId, delta.assetId, delta.shard);
      const row = final.get(key);
      if (row === undefined) throw new Error(`apply_postings returned no row for balance ${key}`);
      const after = later.get(key) ?? {
        debitsPosted: 0n,
        creditsPosted: 0n,
        debitsPending: 0n,
        creditsPending: 0n,
        items: 0,
      };
      later.set(key, {
        debitsPosted: after.debitsPosted + delta.debitsPosted,
        creditsPosted: after.creditsPosted + delta.creditsPosted,
        debitsPending: after.debitsPending + delta.debitsPending,
        creditsPending: after.creditsPending + delta.creditsPending,
        items: after.items + 1,
      });
      return {
        ...row,
        debitsPosted: row.debitsPosted - after.debitsPosted,
        creditsPosted: row.creditsPosted - after.creditsPosted,
        debitsPending: row.debitsPending - after.debitsPending,
        creditsPending: row.creditsPending - after.creditsPending,
        version: row.version - after.items,
      };
    });
    outcomes[index] = { claimed: true, balances };
  }
  return outcomes;
}

/** The accounts apply_postings share-locks: the customer ones; system accounts never change status. */
function customerAccountIds(accounts: PostingBatch['accounts']): string[] {
  return [...accounts.entries()]
    .filter(([, account]) => !account.isSystem)
    .map(([id]) => id)
    .sort();
}

interface BalanceRow {
  account_id: string;
  asset_id: string;
  shard: number;
  debits_posted: string;
  credits_posted: string;
  debits_pending: string;
  credits_pending: string;
  version: string;
  updated_at: Date;
}

function toAppliedBalance(row: BalanceRow): AppliedBalance {
  return {
    accountId: row.account_id,
    assetId: row.asset_id,
    shard: row.shard,
    debitsPosted: BigInt(row.debits_posted),
    creditsPosted: BigInt(row.credits_posted),
    debitsPending: BigInt(row.debits_pending),
    creditsPending: BigInt(row.credits_pending),
    version: Number(row.version),
    updatedAt: row.updated_at,
  };
}

/** The balance columns apply_postings returns, under the names BalanceRow reads. */
const BALANCE_COLUMNS = `o_account_id AS account_id, o_asset_id AS asset_id, o_shard AS shard, o_debits_posted AS debits_posted,
  o_credits_posted AS credits_posted, o_debits_pending AS debits_pending, o_credits_pending AS credits_pending, o_version AS version,
  o_updated_at AS updated_at`;

function parameterList(count: number): string {
  return Array.from({ length: count }, (_, index) => `$${index + 1}`).join(', ');
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
    values: [
      claim.rootLedgerId,
      claim.holdId,
      claim.action,
      claim.idempotencyKey,
      claim.requestHash,
      claim.capturedAmount?.toString() ?? null,
      claim.action === 'POST' ? 'POSTED' : 'VOIDED',
      claim.settlementTransactionId,
    ],
  });
  return rows[0]!.settled;
}

/**
 * Locks, in one global order (root, account, asset, shard), every existing balance row an atomic batch
 * will change, before its first item runs. Items then lock row by row in their own order without ever
 * waiting on each other; two batches sharing rows queue here instead of deadlocking halfway through.
 */
export async function lockBalancesInOrder(
  client: pg.PoolClient,
  rows: Array<{ rootLedgerId: string; accountId: string; assetId: string }>,
): Promise<void> {
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

/** The fixed facts of the accounts that exist among `ids`, with their ledger's path. */
export async function readAccountFacts(reader: pg.Pool | pg.PoolClient, ids: string[]): Promise<AccountFacts[]> {
  const { rows } = await reader.query<{
    id: string;
    root_ledger_id: string;
    ledger_id: string;
    code: string;
    normal_balance: NormalBalance;
    allow_overdraft: boolean;
    overdraft_limit: string | null;
    is_system: boolean;
    path: string[];
  }>({
    name: 'account_facts',
    text: `SELECT a.id, a.root_ledger_id, a.ledger_id, a.code, a.normal_balance::text AS normal_balance, a.allow_overdraft,
                  a.overdraft_limit::text AS overdraft_limit, a.is_system, l.path::text[] AS path
             FROM accounts a
             JOIN ledgers l ON l.root_ledger_id = a.root_ledger_id AND l.id = a.ledger_id
            WHERE a.id = ANY($1::uuid[])`,
    values: [ids],
  });
  return rows.map((row) => ({
    id: row.id,
    rootLedgerId: row.root_ledger_id,
    ledgerId: row.ledger_id,
    code: row.code,
    normalBalance: row.normal_balance,
    allowOverdraft: row.allow_overdraft,
    overdraftLimit: row.overdraft_limit === null ? null : BigInt(row.overdraft_limit),
    isSystem: row.is_system,
    ledgerPath: row.path,
  }));
}

/** A root ledger's system accounts, by code. */
export async function systemAccountsOf(db: Database, rootLedgerId: string): Promise<Map<string, string>> {
  const rows = await db.prisma.account.findMany({
    where: { rootLedgerId, ledgerId: rootLedgerId, isSystem: true },
    select: { id: true, code: true },
  });
  return new Map(rows.map((row) => [row.code, row.id]));
}
