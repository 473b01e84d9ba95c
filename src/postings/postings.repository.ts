import type pg from 'pg';
import type { Database } from '../platform/db.js';
import type { AuditEventRow } from '../audit/audit.js';
import type { BalanceTotals, NormalBalance } from '../balances/balances.core.js';
import type { AccountFacts, PlannedEntry, ShardedDelta } from './postings.core.js';
import {
  firstItemBelowFloor,
  firstItemTouching,
  planWrite,
  rowsAsLeftByItem,
  type WritePlan,
} from './write-plan.core.js';

/**
 * The SQL of postings. Each function is one statement; the engine owns the transaction boundary (a lone
 * write_postings call is its own transaction).
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

/** A balance row as one posting left it. */
export interface AppliedBalance extends BalanceTotals {
  accountId: string;
  assetId: string;
  shard: number;
  version: number;
  updatedAt: Date;
}

/** One planned posting of a write: what write_postings (migration 20261208010000) applies as one item. */
export interface PostingItemWrite {
  /** The transaction row whose idempotency key is claimed; null for a hold's release, which writes none. */
  transaction: TransactionInsert | null;
  deltas: ShardedDelta[];
  entries: Array<PlannedEntry & { id: string }>;
  auditId: string;
  /** Named in the item's audit event before its own transaction: the hold a settlement settles. */
  auditSubject: string | null;
  /** A backdated posting: its accounts' checkpoints from this instant on are dropped. */
  checkpointsFrom: Date | null;
}

/** Everything one write_postings statement writes: items of one root ledger, by one actor. */
export interface PostingsWrite {
  rootLedgerId: string;
  /** The accounts touched; the customer ones are share-locked. */
  accounts: ReadonlyMap<string, { isSystem: boolean }>;
  /** Refuse unless every customer account is ACTIVE; releasing a hold is allowed on any. */
  requireActive: boolean;
  /** A reversal allowed to leave clawback debt: a balance it takes below its floor keeps the shortfall as debt. */
  allowDebt: boolean;
  actor: Pick<AuditEventRow, 'actorType' | 'actorId' | 'operation' | 'requestId' | 'clientAddress'>;
  items: PostingItemWrite[];
}

/** Each item applied, or not at all because the same request already holds its key (a replay). */
type ItemOutcome = { claimed: true; balances: AppliedBalance[] } | { claimed: false };

export type RefusalCode =
  | 'ACCOUNT_NOT_ACTIVE'
  | 'INSUFFICIENT_FUNDS'
  | 'LIMIT_EXCEEDED'
  | 'IDEMPOTENCY_CONFLICT'
  | 'ALREADY_REVERSED';

/** Why write_postings wrote nothing: the first item refused, and what it names. */
export interface Refusal {
  /** The item's index in the write, from 0. */
  item: number;
  code: RefusalCode;
  /** The accounts refused (not active, or taken below their floor), with their statuses when not active. */
  accountIds: string[];
  statuses: string[];
  limitId: string | null;
  remaining: bigint | null;
  /** The transaction that holds the key a different request reused. */
  originalId: string | null;
}

/**
 * What a write came to: every item applied or a replay; or refused, with nothing written; or, when some
 * items but not all turned out to be replays, nothing written and those items named, for the caller to
 * write the others again without them.
 */
type PostingsWritten =
  | { kind: 'WRITTEN'; items: ItemOutcome[] }
  | { kind: 'REFUSED'; refusal: Refusal }
  | { kind: 'PARTLY_REPLAYED'; replays: number[] };

const WRITE_POSTINGS_PARAMETERS = 48;

type WriteRowResult = BalanceRow & {
  outcome: 'APPLIED' | 'CLAIM_TAKEN' | 'REFUSED';
  item: number | null;
  refusal: RefusalCode | 'PARTLY_REPLAYED' | null;
  refused_ids: string[] | null;
  refused_statuses: string[] | null;
  refused_rows: number[] | null;
  available: string[] | null;
  limit_id: string | null;
  remaining: string | null;
  original_id: string | null;
  replays: number[] | null;
};

/**
 * Writes planned postings of one root ledger in one statement: one round trip whatever their number, and on
 * a pool in autocommit one database transaction. Every balance row is locked once, in one global order, and
 * each floor is judged after every item in order. A refusal comes back as a row and nothing is written.
 */
export async function writePostings(runner: pg.Pool | pg.PoolClient, write: PostingsWrite): Promise<PostingsWritten> {
  const { items, actor } = write;
  const plan = planWrite(items);
  const lines = items.flatMap((item, index) => item.entries.map((entry) => ({ item: index + 1, entry })));
  const transactions = items.map((item) => item.transaction);
  const { rows: result } = await runner.query<WriteRowResult>({
    name: 'write_postings',
    text: `SELECT o_outcome AS outcome, o_item AS item, o_refusal AS refusal, o_refused_ids AS refused_ids,
                  o_refused_statuses AS refused_statuses, o_refused_rows AS refused_rows, o_available AS available,
                  o_limit_id AS limit_id, o_remaining AS remaining, o_original_id AS original_id, o_replays AS replays,
                  ${BALANCE_COLUMNS}
             FROM write_postings(${parameterList(WRITE_POSTINGS_PARAMETERS)})`,
    values: [
      write.rootLedgerId,
      customerAccountIds(write.accounts),
      write.requireActive,
      write.allowDebt,
      transactions.map((row) => row?.id ?? null),
      transactions.map((row) => row?.ledgerId ?? null),
      transactions.map((row) => row?.kind ?? null),
      transactions.map((row) => row?.status ?? null),
      transactions.map((row) => row?.idempotencyKey ?? null),
      transactions.map((row) => row?.requestHash ?? null),
      transactions.map((row) => row?.description ?? null),
      transactions.map((row) => (row === null ? null : JSON.stringify(row.metadata))),
      transactions.map((row) => row?.effectiveAt ?? null),
      transactions.map((row) => row?.postedAt ?? null),
      transactions.map((row) => row?.reversalOfId ?? null),
      transactions.map((row) => row?.isHold ?? false),
      transactions.map((row) => row?.timeoutAt ?? null),
      items.map((item) => item.checkpointsFrom),
      items.map((item) => item.auditId),
      items.map((item) => item.auditSubject),
      actor.actorType,
      actor.actorId,
      actor.operation,
      actor.requestId,
      actor.clientAddress,
      plan.rows.map((row) => row.delta.accountId),
      plan.rows.map((row) => row.delta.assetId),
      plan.rows.map((row) => row.delta.shard),
      plan.rows.map((row) => row.delta.ledgerId),
      plan.rows.map((row) => row.delta.normalBalance),
      plan.rows.map((row) => row.delta.availableFloor?.toString() ?? null),
      plan.rows.map((row) => row.debitsPosted.toString()),
      plan.rows.map((row) => row.creditsPosted.toString()),
      plan.rows.map((row) => row.debitsPending.toString()),
      plan.rows.map((row) => row.creditsPending.toString()),
      plan.rows.map((row) => row.items),
      plan.rows.map((row) => row.lowest?.toString() ?? null),
      plan.steps.map((step) => step.item + 1),
      plan.steps.map((step) => step.row + 1),
      plan.steps.map((step) => step.posted.toString()),
      plan.steps.map((step) => step.postedThrough.toString()),
      lines.map(({ item }) => item),
      lines.map(({ entry }) => entry.id),
      lines.map(({ entry }) => entry.accountId),
      lines.map(({ entry }) => entry.ledgerId),
      lines.map(({ entry }) => entry.assetId),
      lines.map(({ entry }) => entry.direction),
      lines.map(({ entry }) => entry.amount.toString()),
    ],
  });
  const refused = result.find((row) => row.outcome === 'REFUSED');
  if (refused !== undefined) return refusalOf(refused, plan);
  const outcomes: ItemOutcome[] = items.map(() => ({ claimed: true, balances: [] }));
  for (const row of result) if (row.outcome === 'CLAIM_TAKEN') outcomes[row.item! - 1] = { claimed: false };
  const applied = result.filter((row) => row.outcome === 'APPLIED').map(toAppliedBalance);
  if (applied.length === 0) return { kind: 'WRITTEN', items: outcomes };
  // The statement answers with each row as the write left it, in no set order; each item is answered with
  // its rows as it left them.
  const final = plan.rows.map(
    ({ delta }) =>
      applied.find(
        (row) => row.accountId === delta.accountId && row.assetId === delta.assetId && row.shard === delta.shard,
      )!,
  );
  const asLeft = rowsAsLeftByItem(plan, final, items.length);
  for (const [index, outcome] of outcomes.entries()) {
    if (!outcome.claimed) continue;
    const steps = plan.steps.filter((step) => step.item === index);
    outcome.balances = steps.map((step, position) => ({ ...final[step.row]!, ...asLeft[index]![position]! }));
  }
  return { kind: 'WRITTEN', items: outcomes };
}

/** The refusal row, completed with what only the plan knows: which item it belongs to. */
function refusalOf(row: WriteRowResult, plan: WritePlan): PostingsWritten {
  if (row.refusal === 'PARTLY_REPLAYED')
    return { kind: 'PARTLY_REPLAYED', replays: row.replays!.map((item) => item - 1) };
  const refusal: Refusal = {
    item: row.item === null ? 0 : row.item - 1,
    code: row.refusal!,
    accountIds: row.refused_ids ?? [],
    statuses: row.refused_statuses ?? [],
    limitId: row.limit_id,
    remaining: row.remaining === null ? null : BigInt(row.remaining),
    originalId: row.original_id,
  };
  if (refusal.code === 'INSUFFICIENT_FUNDS') {
    const below = firstItemBelowFloor(
      plan,
      row.refused_rows!.map((index, position) => ({ row: index - 1, available: BigInt(row.available![position]!) })),
    );
    return { kind: 'REFUSED', refusal: { ...refusal, item: below.item, accountIds: below.accountIds } };
  }
  if (refusal.code === 'ACCOUNT_NOT_ACTIVE') {
    const touching = firstItemTouching(plan, refusal.accountIds);
    const statusOf = new Map(refusal.accountIds.map((id, index) => [id, refusal.statuses[index]!]));
    return {
      kind: 'REFUSED',
      refusal: {
        ...refusal,
        item: touching.item,
        accountIds: touching.accountIds,
        statuses: touching.accountIds.map((id) => statusOf.get(id)!),
      },
    };
  }
  return { kind: 'REFUSED', refusal };
}

/** The accounts the posting statement share-locks: the customer ones; system accounts never change status. */
export function customerAccountIds(accounts: PostingsWrite['accounts']): string[] {
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

/** The balance columns write_postings returns, under the names BalanceRow reads. */
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
