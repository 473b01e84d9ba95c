import type pg from 'pg';
import type { Page } from '../platform/pagination.js';
import { Direction, Entry, Transaction, TransactionKind, TransactionStatus } from './transaction.types.js';
import { readPerRoot } from '../platform/root-directory.js';

/** SQL for transactions, entries and hold settlements; every function takes the pool or a transaction's client. */
type Reader = pg.Pool | pg.PoolClient;

/** Transaction columns under the names the mapper expects, for hand-written SQL. */
const TRANSACTION_COLUMNS = `t.id, t.root_ledger_id AS "rootLedgerId", t.ledger_id AS "ledgerId", t.kind::text AS kind, t.status::text AS status,
  t.idempotency_key AS "idempotencyKey", t.request_hash AS "requestHash", t.description, t.metadata,
  t.effective_at AS "effectiveAt", t.posted_at AS "postedAt", t.reversal_of_id AS "reversalOfId", t.is_hold AS "isHold", t.timeout_at AS "timeoutAt"`;

// Above every UUID: the cursor bound of a first page.
const UUID_MAX = 'ffffffff-ffff-ffff-ffff-ffffffffffff';

const ENTRY_COLUMNS = `e.id, e.root_ledger_id AS "rootLedgerId", e.transaction_id AS "transactionId", e.account_id AS "accountId",
  e.ledger_id AS "ledgerId", e.asset_id AS "assetId", e.direction::text AS direction, e.amount::text AS amount, e.effective_at AS "effectiveAt", e.pending`;

type TransactionRow = Omit<Transaction, 'kind' | 'status' | 'metadata'> & {
  kind: string;
  status: string;
  metadata: unknown;
};
type EntryRow = Omit<Entry, 'direction' | 'amount'> & { direction: string; amount: string | bigint };

function toTransaction(row: TransactionRow): Transaction {
  return Object.assign(new Transaction(), {
    ...row,
    kind: row.kind as TransactionKind,
    status: row.status as TransactionStatus,
    metadata: row.metadata as Record<string, unknown>,
  });
}

function toEntry(row: EntryRow): Entry {
  return Object.assign(new Entry(), { ...row, direction: row.direction as Direction, amount: BigInt(row.amount) });
}

/** What a transaction list filters on (the service has validated it). */
export interface TransactionListFilter {
  accountId: string | null;
  kind: TransactionKind | null;
  status: TransactionStatus | null;
  from: Date | null;
  to: Date | null;
  metadata: Record<string, unknown> | null;
}

/** One account's entry page request; requests with equal arguments batch into one statement. */
export interface EntryPageKey {
  rootLedgerId: string;
  accountId: string;
  page: Page;
  assetId: string | null;
  from: Date | null;
  to: Date | null;
}

/** Transactions of one tree by id. */
export async function selectTransactions(reader: Reader, rootLedgerId: string, ids: string[]): Promise<Transaction[]> {
  const { rows } = await reader.query<TransactionRow>(
    `SELECT ${TRANSACTION_COLUMNS} FROM transactions t WHERE t.root_ledger_id = $1 AND t.id = ANY($2::uuid[])`,
    [rootLedgerId, ids],
  );
  return rows.map(toTransaction);
}

export async function selectTransactionByKey(
  reader: Reader,
  rootLedgerId: string,
  idempotencyKey: string,
): Promise<Transaction | null> {
  const { rows } = await reader.query<TransactionRow>(
    `SELECT ${TRANSACTION_COLUMNS} FROM transactions t WHERE t.root_ledger_id = $1 AND t.idempotency_key = $2`,
    [rootLedgerId, idempotencyKey],
  );
  return rows[0] ? toTransaction(rows[0]) : null;
}

export async function selectSettlementByKey(
  reader: Reader,
  rootLedgerId: string,
  idempotencyKey: string,
): Promise<{ holdId: string; requestHash: string | null; settlementTransactionId: string | null } | null> {
  const { rows } = await reader.query<{
    hold_id: string;
    request_hash: string | null;
    settlement_transaction_id: string | null;
  }>(
    `SELECT pending_transaction_id AS hold_id, request_hash, settlement_transaction_id FROM hold_settlements WHERE root_ledger_id = $1 AND idempotency_key = $2`,
    [rootLedgerId, idempotencyKey],
  );
  const [row] = rows;
  return row
    ? { holdId: row.hold_id, requestHash: row.request_hash, settlementTransactionId: row.settlement_transaction_id }
    : null;
}

/** Settlements naming any of one tree's transactions, as the hold or as its capture. */
export async function selectSettlementsOf(
  reader: Reader,
  rootLedgerId: string,
  transactionIds: string[],
): Promise<Array<{ holdId: string; captureId: string | null }>> {
  const { rows } = await reader.query<{ hold_id: string; capture_id: string | null }>(
    `SELECT pending_transaction_id AS hold_id, settlement_transaction_id AS capture_id FROM hold_settlements
      WHERE root_ledger_id = $1 AND (pending_transaction_id = ANY($2::uuid[]) OR settlement_transaction_id = ANY($2::uuid[]))`,
    [rootLedgerId, transactionIds],
  );
  return rows.map((row) => ({ holdId: row.hold_id, captureId: row.capture_id }));
}

export async function selectReversalsOf(
  reader: Reader,
  originals: Array<{ rootLedgerId: string; id: string }>,
): Promise<Transaction[]> {
  return readPerRoot(originals, async (root, keys) => {
    const { rows } = await reader.query<TransactionRow>(
      `SELECT ${TRANSACTION_COLUMNS}
         FROM transactions t
        WHERE t.root_ledger_id = $1 AND t.reversal_of_id = ANY($2::uuid[])`,
      [root, keys.map((original) => original.id)],
    );
    return rows.map(toTransaction);
  });
}

/** The entries of one tree's transactions. */
export async function selectEntriesOf(
  reader: Reader,
  rootLedgerId: string,
  transactionIds: string[],
): Promise<Entry[]> {
  const { rows } = await reader.query<EntryRow>(
    `SELECT ${ENTRY_COLUMNS} FROM entries e WHERE e.root_ledger_id = $1 AND e.transaction_id = ANY($2::uuid[]) ORDER BY e.transaction_id, e.id`,
    [rootLedgerId, transactionIds],
  );
  return rows.map(toEntry);
}

/**
 * Transactions touching any account in the ledger's subtree, newest first, one more than the page. A
 * root ledger's subtree is its whole tree, so its history is read straight from the transactions table.
 */
export async function selectTransactionPage(
  reader: Reader,
  ledger: { id: string; rootLedgerId: string; parentId: string | null },
  filter: TransactionListFilter,
  page: Page,
): Promise<Transaction[]> {
  const { rows } = await reader.query<TransactionRow>(
    `SELECT ${TRANSACTION_COLUMNS}
       FROM transactions t
      WHERE t.root_ledger_id = $1
        AND ($2::uuid IS NULL OR t.id < $2)
        AND ($3::"TransactionKind" IS NULL OR t.kind = $3)
        AND ($4::"TransactionStatus" IS NULL OR t.status = $4)
        AND ($5::timestamptz IS NULL OR t.effective_at >= $5)
        AND ($6::timestamptz IS NULL OR t.effective_at <= $6)
        AND ($7::jsonb IS NULL OR t.metadata @> $7)
        AND ($8::uuid IS NULL OR EXISTS (
              SELECT 1 FROM entries e WHERE e.root_ledger_id = t.root_ledger_id AND e.transaction_id = t.id AND e.account_id = $8))
        AND ($9::boolean OR EXISTS (
              SELECT 1 FROM entries e
                JOIN ledgers l ON l.root_ledger_id = e.root_ledger_id AND l.id = e.ledger_id
               WHERE e.root_ledger_id = t.root_ledger_id AND e.transaction_id = t.id AND l.path @> ARRAY[$10::uuid]))
      ORDER BY t.id DESC
      LIMIT $11`,
    [
      ledger.rootLedgerId,
      page.after,
      filter.kind,
      filter.status,
      filter.from,
      filter.to,
      filter.metadata ? JSON.stringify(filter.metadata) : null,
      filter.accountId,
      ledger.parentId === null,
      ledger.id,
      page.size + 1,
    ],
  );
  return rows.map(toTransaction);
}

/**
 * The entries of pages for many accounts with the same arguments, newest first, in one statement
 * (each account's page one longer than asked, to tell whether another follows).
 *
 * The planner estimates every account at the table's average number of entries, so for an account
 * with a long history (a system account, a busy customer) it would read all of that account's
 * entries by bitmap and sort them for a page of 50. The unfiltered page (the common one) therefore
 * takes its ids from an index-only backward scan of (account_id, id), which stops after the page,
 * and then fetches those rows by primary key. The cursor is a plain `id <` bound (no `IS NULL OR`),
 * so it stays an index condition in a generic plan and a page 100,000 rows deep costs what the first does.
 */
export async function selectEntryPages(
  reader: Reader,
  rootLedgerId: string,
  template: EntryPageKey,
  keys: EntryPageKey[],
): Promise<Entry[]> {
  // One tree per statement (the caller groups the keys by root), so the statement names its root.
  const accounts = [rootLedgerId, keys.map((key) => key.accountId)];
  const filtered = template.assetId !== null || template.from !== null || template.to !== null;
  const { rows } = filtered
    ? await reader.query<EntryRow>({
        name: 'entry_pages_filtered',
        text: `SELECT page.*
                 FROM unnest($2::uuid[]) AS q(account_id)
                 CROSS JOIN LATERAL (
                   SELECT ${ENTRY_COLUMNS}
                     FROM entries e
                    WHERE e.root_ledger_id = $1 AND e.account_id = q.account_id
                      AND e.id < coalesce($3::uuid, '${UUID_MAX}'::uuid)
                      AND ($4::uuid IS NULL OR e.asset_id = $4)
                      AND ($5::timestamptz IS NULL OR e.effective_at >= $5)
                      AND ($6::timestamptz IS NULL OR e.effective_at <= $6)
                    ORDER BY e.id DESC
                    LIMIT $7
                 ) AS page`,
        values: [
          ...accounts,
          template.page.after,
          template.assetId,
          template.from,
          template.to,
          template.page.size + 1,
        ],
      })
    : await reader.query<EntryRow>({
        name: 'entry_pages',
        text: `SELECT ${ENTRY_COLUMNS}
                 FROM unnest($2::uuid[]) AS q(account_id)
                 CROSS JOIN LATERAL (
                   SELECT i.id FROM entries i
                    WHERE i.root_ledger_id = $1 AND i.account_id = q.account_id
                      AND i.id < coalesce($3::uuid, '${UUID_MAX}'::uuid)
                    ORDER BY i.id DESC
                    LIMIT $4
                 ) AS page
                 JOIN entries e ON e.root_ledger_id = $1 AND e.id = page.id
                ORDER BY e.account_id, e.id DESC`,
        values: [...accounts, template.page.after, template.page.size + 1],
      });
  return rows.map(toEntry);
}
