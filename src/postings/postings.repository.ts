import type pg from 'pg';
import type { Database } from '../platform/db.js';
import type { AuditEventRow } from '../audit/audit.js';
import {
  AccountNotActiveError,
  InsufficientFundsError,
  LimitExceededError,
  type DomainError,
} from '../platform/errors.js';
import type { BalanceTotals, NormalBalance } from '../balances/balances.core.js';
import type { AccountFacts, BalanceDelta, PlannedEntry } from './postings.core.js';
import { HOT_ACCOUNT_SHARDS } from './postings.core.js';

/**
 * The SQL of postings. Each function is one statement; the engine owns the transaction boundary (a lone
 * apply_posting call is its own transaction).
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

/** Everything one posting writes, planned: what apply_posting (migration 20261122000000) applies. */
export interface PostingWrite {
  rootLedgerId: string;
  /** The accounts touched, for their codes in a refusal; the customer ones are share-locked. */
  accounts: ReadonlyMap<string, { code: string; isSystem: boolean }>;
  /** Refuse unless every customer account is ACTIVE; releasing a hold is allowed on any. */
  requireActive: boolean;
  /** The transaction row whose idempotency key is claimed; null for a hold's release, which writes none. */
  transaction: TransactionInsert | null;
  deltas: ShardedDelta[];
  entries: Array<PlannedEntry & { id: string }>;
  audit: AuditEventRow;
  /** A backdated posting: its accounts' checkpoints from this instant on are dropped. */
  checkpointsFrom: Date | null;
  /** A reversal allowed to leave clawback debt: a balance it takes below its floor keeps the shortfall as debt. */
  allowDebt?: boolean;
}

/** Applied, or not at all because another transaction holds the idempotency key (or the reversal). */
export type PostingWriteOutcome = { claimed: true; balances: AppliedBalance[] } | { claimed: false };

/** apply_posting's signature of migration 20261206010000 (with p_allow_debt); the 40-parameter one stays for older servers. */
const APPLY_POSTING_PARAMETERS = 41;

/**
 * Applies a planned posting in one statement: one round trip, and on a pool in autocommit one database
 * transaction. Refusals decided under the locks come back as the domain's errors, with nothing written.
 */
export async function applyPosting(runner: pg.Pool | pg.PoolClient, write: PostingWrite): Promise<PostingWriteOutcome> {
  const { transaction: row, deltas, entries, audit } = write;
  let result: pg.QueryResult<BalanceRow & { outcome: 'APPLIED' | 'CLAIM_TAKEN' }>;
  try {
    result = await runner.query<BalanceRow & { outcome: 'APPLIED' | 'CLAIM_TAKEN' }>({
      name: 'apply_posting',
      text: `SELECT o_outcome AS outcome, ${BALANCE_COLUMNS} FROM apply_posting(${parameterList(APPLY_POSTING_PARAMETERS)})`,
      values: [
        write.rootLedgerId,
        customerAccountIds(write.accounts),
        write.requireActive,
        row?.id ?? null,
        row?.ledgerId ?? null,
        row?.kind ?? null,
        row?.status ?? null,
        row?.idempotencyKey ?? null,
        row?.requestHash ?? null,
        row?.description ?? null,
        row === null ? null : JSON.stringify(row.metadata),
        row?.effectiveAt ?? null,
        row?.postedAt ?? null,
        row?.reversalOfId ?? null,
        row?.isHold ?? false,
        row?.timeoutAt ?? null,
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
        entries.map((entry) => entry.id),
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
        write.checkpointsFrom,
        write.allowDebt ?? false,
      ],
    });
  } catch (error) {
    throw refusalOf(error, write.accounts) ?? error;
  }
  if (result.rows[0]?.outcome === 'CLAIM_TAKEN') return { claimed: false };
  return { claimed: true, balances: result.rows.map(toAppliedBalance) };
}

/** The accounts a posting function share-locks: the customer ones; system accounts never change status. */
export function customerAccountIds(accounts: PostingWrite['accounts']): string[] {
  return [...accounts.entries()]
    .filter(([, account]) => !account.isSystem)
    .map(([id]) => id)
    .sort();
}

/**
 * The posting functions' own SQLSTATEs, raised before any balance changes. DETAIL names the accounts
 * ("id:STATUS" or "id,id"); apply_postings puts the failing item's number (from 1) first, "item;...".
 */
const NOT_ACTIVE_SQLSTATE = 'RLNA1';
const BELOW_FLOOR_SQLSTATE = 'RLIF1';
export const KEY_REUSED_SQLSTATE = 'RLIC1';
/** A program limit refused the posting (migration 20261206010000); DETAIL "limitId:remaining". */
const LIMIT_EXCEEDED_SQLSTATE = 'RLLE1';

export function refusalOf(error: unknown, accounts: PostingWrite['accounts']): DomainError | null {
  const { code, detail = '' } = error as { code?: string; detail?: string };
  const accountsNamed = detail.includes(';') ? detail.slice(detail.indexOf(';') + 1) : detail;
  const codeOf = (id: string) => accounts.get(id)?.code ?? id;
  if (code === NOT_ACTIVE_SQLSTATE) {
    const [id, status] = accountsNamed.split(',')[0]!.split(':');
    return new AccountNotActiveError(`account ${codeOf(id!)} is ${status}`);
  }
  if (code === LIMIT_EXCEEDED_SQLSTATE) {
    const [limitId = '', remaining = '0'] = accountsNamed.split(':');
    return new LimitExceededError(`the posting would pass limit ${limitId}; ${remaining} remains of it`, {
      limitId,
      remaining,
    });
  }
  if (code === BELOW_FLOOR_SQLSTATE) {
    const ids = accountsNamed.split(',');
    return new InsufficientFundsError(
      `insufficient funds: the posting would take ${ids.map(codeOf).join(', ')} below its allowed balance`,
      undefined,
      ids,
    );
  }
  return null;
}

export interface BalanceRow {
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

export function toAppliedBalance(row: BalanceRow): AppliedBalance {
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

/** The columns both posting functions return, under the names BalanceRow reads. */
export const BALANCE_COLUMNS = `o_account_id AS account_id, o_asset_id AS asset_id, o_shard AS shard, o_debits_posted AS debits_posted,
  o_credits_posted AS credits_posted, o_debits_pending AS debits_pending, o_credits_pending AS credits_pending, o_version AS version,
  o_updated_at AS updated_at`;

export function parameterList(count: number): string {
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
 * One statement per root, roots in sorted order (docs/citus-routing.md): each names its root, and the
 * order across roots is the same as one statement's ORDER BY gave. A batch almost always has one root.
 */
export async function lockBalancesInOrder(
  client: pg.PoolClient,
  rows: Array<{ rootLedgerId: string; accountId: string; assetId: string }>,
): Promise<void> {
  const byRoot = new Map<string, Array<{ accountId: string; assetId: string }>>();
  for (const row of rows) byRoot.set(row.rootLedgerId, [...(byRoot.get(row.rootLedgerId) ?? []), row]);
  for (const root of [...byRoot.keys()].sort()) {
    const keys = byRoot.get(root)!;
    await client.query({
      name: 'posting_lock_batch_balances',
      text: `SELECT 1 FROM balances b
              WHERE b.root_ledger_id = $1
                AND (b.account_id, b.asset_id) IN (SELECT * FROM unnest($2::uuid[], $3::uuid[]))
              ORDER BY b.account_id, b.asset_id, b.shard
                FOR UPDATE`,
      values: [root, keys.map((key) => key.accountId), keys.map((key) => key.assetId)],
    });
  }
}

/**
 * The fixed facts of accounts whose root this process does not know yet, with their ledger's path: the
 * facts cache's miss, which finds the root with the row (like the root directory's miss, it names no root:
 * test/routability.allow-list.ts). Once per account per process.
 */
export async function readAccountFactsById(reader: pg.Pool | pg.PoolClient, ids: string[]): Promise<AccountFacts[]> {
  const { rows } = await reader.query<FactsRow>({
    name: 'account_facts_by_id',
    text: `SELECT ${FACTS_COLUMNS}
             FROM accounts a
             JOIN ledgers l ON l.root_ledger_id = a.root_ledger_id AND l.id = a.ledger_id
            WHERE a.id = ANY($1::uuid[])`,
    values: [ids],
  });
  return rows.map(toFacts);
}

/** The fixed facts of the accounts of one tree that exist among `ids`, with their ledger's path. */
export async function readAccountFacts(
  reader: pg.Pool | pg.PoolClient,
  rootLedgerId: string,
  ids: string[],
): Promise<AccountFacts[]> {
  const { rows } = await reader.query<FactsRow>({
    name: 'account_facts',
    text: `SELECT ${FACTS_COLUMNS}
             FROM accounts a
             JOIN ledgers l ON l.root_ledger_id = a.root_ledger_id AND l.id = a.ledger_id
            WHERE a.root_ledger_id = $1 AND a.id = ANY($2::uuid[])`,
    values: [rootLedgerId, ids],
  });
  return rows.map(toFacts);
}

type FactsRow = {
  id: string;
  root_ledger_id: string;
  ledger_id: string;
  code: string;
  normal_balance: NormalBalance;
  allow_overdraft: boolean;
  overdraft_limit: string | null;
  is_system: boolean;
  path: string[];
};

const FACTS_COLUMNS = `a.id, a.root_ledger_id, a.ledger_id, a.code, a.normal_balance::text AS normal_balance, a.allow_overdraft,
                  a.overdraft_limit::text AS overdraft_limit, a.is_system, l.path::text[] AS path`;

function toFacts(row: FactsRow): AccountFacts {
  return {
    id: row.id,
    rootLedgerId: row.root_ledger_id,
    ledgerId: row.ledger_id,
    code: row.code,
    normalBalance: row.normal_balance,
    allowOverdraft: row.allow_overdraft,
    overdraftLimit: row.overdraft_limit === null ? null : BigInt(row.overdraft_limit),
    isSystem: row.is_system,
    ledgerPath: row.path,
  };
}

/** A root ledger's system accounts, by code. */
export async function systemAccountsOf(db: Database, rootLedgerId: string): Promise<Map<string, string>> {
  const rows = await db.prisma.account.findMany({
    where: { rootLedgerId, ledgerId: rootLedgerId, isSystem: true },
    select: { id: true, code: true },
  });
  return new Map(rows.map((row) => [row.code, row.id]));
}
