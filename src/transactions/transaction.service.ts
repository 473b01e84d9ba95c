import type pg from 'pg';
import type { Database } from '../platform/db.js';
import { BadInputError } from '../platform/errors.js';
import { readPage, toConnection, type Connection } from '../platform/pagination.js';
import {
  selectEntriesOf,
  selectEntryPages,
  selectReversalsOf,
  selectSettlementByKey,
  selectSettlementsOf,
  selectTransactionByKey,
  selectTransactionPage,
  selectTransactions,
  type EntryPageKey,
} from './transaction.repository.js';
import type { Entry, Transaction, TransactionKind, TransactionStatus } from './transaction.types.js';

export interface TransactionFilter {
  accountId?: string | null;
  kind?: TransactionKind | null;
  status?: TransactionStatus | null;
  from?: Date | null;
  to?: Date | null;
  metadata?: Record<string, unknown> | null;
}

export interface EntryFilter {
  asset?: string | null;
  from?: Date | null;
  to?: Date | null;
}

export class TransactionService {
  constructor(private readonly db: Database) {}

  fetchByIds(ids: string[]): Promise<Transaction[]> {
    return this.db.roots.readByRoot('transactions', ids, (root, rootIds) =>
      selectTransactions(this.db.pool, root, rootIds),
    );
  }

  /** By idempotency key; `reader` may be a transaction's client, to see that transaction's own rows. */
  findByIdempotencyKey(
    rootLedgerId: string,
    idempotencyKey: string,
    reader: pg.Pool | pg.PoolClient = this.db.pool,
  ): Promise<Transaction | null> {
    return selectTransactionByKey(reader, rootLedgerId, idempotencyKey);
  }

  findSettlementByKey(
    rootLedgerId: string,
    idempotencyKey: string,
  ): Promise<{ holdId: string; requestHash: string | null; settlementTransactionId: string | null } | null> {
    return selectSettlementByKey(this.db.pool, rootLedgerId, idempotencyKey);
  }

  /** Settlements (captures and releases) of holds, and the holds captures settled, for the Transaction links. */
  settlementsOf(transactionIds: string[]): Promise<Array<{ holdId: string; captureId: string | null }>> {
    return this.db.roots.readByRoot('transactions', transactionIds, (root, ids) =>
      selectSettlementsOf(this.db.pool, root, ids),
    );
  }

  reversalsOf(originals: Array<{ rootLedgerId: string; id: string }>): Promise<Transaction[]> {
    return selectReversalsOf(this.db.pool, originals);
  }

  entriesOf(transactionIds: string[]): Promise<Entry[]> {
    return this.db.roots.readByRoot('transactions', transactionIds, (root, ids) =>
      selectEntriesOf(this.db.pool, root, ids),
    );
  }

  /** Transactions touching any account in the ledger's subtree, newest first. */
  async list(
    ledger: { id: string; rootLedgerId: string; parentId: string | null },
    filter: TransactionFilter | null | undefined,
    first?: number | null,
    after?: string | null,
  ): Promise<Connection<Transaction>> {
    const page = readPage(first, after);
    if (filter?.from && filter?.to && filter.from > filter.to)
      throw new BadInputError('filter.from must not be after filter.to');
    // A list may be slightly stale: a replica's, once it has replayed the caller's own last write.
    const rows = await this.db.stale(({ pool }) =>
      selectTransactionPage(
        pool,
        ledger,
        {
          accountId: filter?.accountId ?? null,
          kind: filter?.kind ?? null,
          status: filter?.status ?? null,
          from: filter?.from ?? null,
          to: filter?.to ?? null,
          metadata: filter?.metadata ?? null,
        },
        page,
      ),
    );
    return toConnection(this.db.roots.rememberRows('transactions', rows), page);
  }

  /** Entry pages for many accounts with the same arguments, newest first, in one statement per tree. */
  async entryPages(keys: EntryPageKey[]): Promise<Array<Connection<Entry>>> {
    const [template] = keys;
    if (template === undefined) return [];
    const byAccount = new Map<string, Entry[]>();
    const byRoot = new Map<string, EntryPageKey[]>();
    for (const key of keys) byRoot.set(key.rootLedgerId, [...(byRoot.get(key.rootLedgerId) ?? []), key]);
    const entries = (
      await Promise.all(
        [...byRoot].map(([root, rootKeys]) =>
          this.db.stale(({ pool }) => selectEntryPages(pool, root, template, rootKeys)),
        ),
      )
    ).flat();
    for (const entry of entries) {
      const list = byAccount.get(entry.accountId);
      if (list) list.push(entry);
      else byAccount.set(entry.accountId, [entry]);
    }
    return keys.map((key) => toConnection(byAccount.get(key.accountId) ?? [], template.page));
  }
}
