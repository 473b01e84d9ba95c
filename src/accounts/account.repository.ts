import type pg from 'pg';
import type { Prisma } from '../generated/prisma/client.js';
import type { Page } from '../platform/pagination.js';
import { Account, AccountStatus, NormalBalance } from './account.types.js';
import { readPerRoot } from '../platform/root-directory.js';

/**
 * SQL for accounts and their balances. The reads are on every request's path (postings, account
 * queries, loaders): one named prepared statement each, through pg, without the ORM, whose per-query CPU
 * is several times a raw query's. The administrative writes go through Prisma, inside the service's
 * transaction. Every function takes the pool, Prisma, or a transaction's client.
 */
type Reader = pg.Pool | pg.PoolClient;

/** Account columns under the names the mapper expects, for hand-written SQL. */
const ACCOUNT_COLUMNS = `a.id, a.root_ledger_id AS "rootLedgerId", a.ledger_id AS "ledgerId", a.code, a.name,
  a.normal_balance AS "normalBalance", a.allow_overdraft AS "allowOverdraft", a.overdraft_limit AS "overdraftLimit",
  a.status, a.is_system AS "isSystem", a.metadata, a.created_at AS "createdAt"`;

type AccountRow = {
  id: string;
  rootLedgerId: string;
  ledgerId: string;
  code: string;
  name: string;
  normalBalance: string;
  allowOverdraft: boolean;
  overdraftLimit: bigint | string | null;
  status: string;
  isSystem: boolean;
  metadata: unknown;
  createdAt: Date;
};

function toAccount(row: AccountRow): Account {
  return Object.assign(new Account(), {
    id: row.id,
    rootLedgerId: row.rootLedgerId,
    ledgerId: row.ledgerId,
    code: row.code,
    name: row.name,
    normalBalance: row.normalBalance as NormalBalance,
    allowOverdraft: row.allowOverdraft,
    overdraftLimit: row.overdraftLimit === null ? null : BigInt(row.overdraftLimit),
    status: row.status as AccountStatus,
    isSystem: row.isSystem,
    metadata: row.metadata as Record<string, unknown>,
    createdAt: row.createdAt,
  });
}

/** A balance as stored (hot accounts' shards summed), before the service derives posted/available. */
export interface BalanceRow {
  rootLedgerId: string;
  accountId: string;
  assetId: string;
  normalBalance: NormalBalance;
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
  version: number;
  updatedAt: Date | null;
}

/** What an account list filters on (the service has validated it). */
export interface AccountListFilter {
  includeDescendants: boolean;
  codePrefix: string | null;
  status: AccountStatus | null;
  metadata: Record<string, unknown> | null;
}

export async function insertAccount(
  tx: Prisma.TransactionClient,
  data: Prisma.AccountUncheckedCreateInput,
): Promise<Account> {
  return toAccount(await tx.account.create({ data }));
}

/** The account's status, its row locked FOR UPDATE (postings hold FOR KEY SHARE on it). */
export async function lockAccountStatus(
  tx: Prisma.TransactionClient,
  account: { rootLedgerId: string; id: string },
): Promise<AccountStatus> {
  const [locked] = await tx.$queryRaw<Array<{ status: string }>>`
    SELECT status::text AS status FROM accounts WHERE root_ledger_id = ${account.rootLedgerId}::uuid AND id = ${account.id}::uuid FOR UPDATE`;
  return locked!.status as AccountStatus;
}

/** Whether any balance of the account is non-zero or has something pending; the balance rows are locked. */
export async function lockUnsettledBalances(
  tx: Prisma.TransactionClient,
  account: { rootLedgerId: string; id: string },
): Promise<boolean> {
  const balances = await tx.$queryRaw<Array<{ asset_id: string }>>`
    SELECT asset_id FROM balances
     WHERE root_ledger_id = ${account.rootLedgerId}::uuid AND account_id = ${account.id}::uuid
       AND (debits_posted <> credits_posted OR debits_pending <> 0 OR credits_pending <> 0)
     FOR UPDATE`;
  return balances.length > 0;
}

export async function updateAccountRow(
  tx: Prisma.TransactionClient,
  account: { rootLedgerId: string; id: string },
  data: Prisma.AccountUncheckedUpdateInput,
): Promise<Account> {
  return toAccount(
    await tx.account.update({
      where: { rootLedgerId_id: { rootLedgerId: account.rootLedgerId, id: account.id } },
      data,
    }),
  );
}

export async function selectAccount(reader: Reader, rootLedgerId: string, id: string): Promise<Account | null> {
  const { rows } = await reader.query<AccountRow>({
    name: 'account_by_id',
    text: `SELECT ${ACCOUNT_COLUMNS} FROM accounts a WHERE a.root_ledger_id = $1 AND a.id = $2`,
    values: [rootLedgerId, id],
  });
  return rows[0] ? toAccount(rows[0]) : null;
}

export async function selectAccountByCode(
  reader: Reader,
  rootLedgerId: string,
  ledgerId: string,
  code: string,
): Promise<Account | null> {
  const { rows } = await reader.query<AccountRow>({
    name: 'account_by_code',
    text: `SELECT ${ACCOUNT_COLUMNS} FROM accounts a WHERE a.root_ledger_id = $1 AND a.ledger_id = $2 AND a.code = $3`,
    values: [rootLedgerId, ledgerId, code],
  });
  return rows[0] ? toAccount(rows[0]) : null;
}

/** Accounts of one tree by id. */
export async function selectAccounts(reader: Reader, rootLedgerId: string, ids: string[]): Promise<Account[]> {
  const { rows } = await reader.query<AccountRow>({
    name: 'accounts_by_ids',
    text: `SELECT ${ACCOUNT_COLUMNS} FROM accounts a WHERE a.root_ledger_id = $1 AND a.id = ANY($2::uuid[])`,
    values: [rootLedgerId, ids],
  });
  return rows.map(toAccount);
}

/** The ledger's accounts (or its subtree's), by id, one more than the page. */
export async function selectAccountPage(
  reader: Reader,
  ledger: { id: string; rootLedgerId: string },
  filter: AccountListFilter,
  page: Page,
): Promise<Account[]> {
  const { rows } = await reader.query<AccountRow>(
    `SELECT ${ACCOUNT_COLUMNS}
       FROM accounts a
      WHERE a.root_ledger_id = $1
        AND (CASE WHEN $2::boolean
                  THEN a.ledger_id IN (SELECT l.id FROM ledgers l WHERE l.root_ledger_id = $1 AND l.path @> ARRAY[$3::uuid])
                  ELSE a.ledger_id = $3 END)
        AND ($4::text IS NULL OR starts_with(a.code, $4))
        AND ($5::"AccountStatus" IS NULL OR a.status = $5)
        AND ($6::jsonb IS NULL OR a.metadata @> $6)
        AND ($7::uuid IS NULL OR a.id > $7)
      ORDER BY a.id
      LIMIT $8`,
    [
      ledger.rootLedgerId,
      filter.includeDescendants,
      ledger.id,
      filter.codePrefix,
      filter.status,
      filter.metadata ? JSON.stringify(filter.metadata) : null,
      page.after,
      page.size + 1,
    ],
  );
  return rows.map(toAccount);
}

/**
 * Accounts of one tree with their balances, in one statement: for a read that will resolve both (an account
 * by id with its balances), one round trip instead of two.
 */
export async function selectAccountsWithBalances(
  reader: Reader,
  rootLedgerId: string | null,
  ids: string[],
): Promise<Array<{ account: Account; balances: BalanceRow[] }>> {
  type Totals = {
    assetId: string;
    normalBalance: NormalBalance;
    dp: string;
    cp: string;
    dpe: string;
    cpe: string;
    version: string;
    updatedAt: string | null;
  };
  // Without a root (ids this process has not seen: RootDirectory.readKnownByRoot), by id alone.
  const where = rootLedgerId === null ? 'a.id = ANY($1::uuid[])' : 'a.root_ledger_id = $2 AND a.id = ANY($1::uuid[])';
  const { rows } = await reader.query<AccountRow & { balances: Totals[] }>({
    name: rootLedgerId === null ? 'accounts_with_balances_by_id' : 'accounts_with_balances',
    text: `SELECT ${ACCOUNT_COLUMNS},
                  coalesce((SELECT json_agg(json_build_object('assetId', s.asset_id, 'normalBalance', s.normal_balance, 'dp', s.dp, 'cp', s.cp,
                                                              'dpe', s.dpe, 'cpe', s.cpe, 'version', s.version, 'updatedAt', s.updated_at) ORDER BY s.asset_id)
                              FROM (SELECT b.asset_id, b.normal_balance::text AS normal_balance,
                                           sum(b.debits_posted)::text AS dp, sum(b.credits_posted)::text AS cp,
                                           sum(b.debits_pending)::text AS dpe, sum(b.credits_pending)::text AS cpe,
                                           sum(b.version)::text AS version, max(b.updated_at) AS updated_at
                                      FROM balances b
                                     WHERE b.root_ledger_id = a.root_ledger_id AND b.account_id = a.id
                                     GROUP BY b.asset_id, b.normal_balance) s), '[]') AS balances
             FROM accounts a WHERE ${where}`,
    values: rootLedgerId === null ? [ids] : [ids, rootLedgerId],
  });
  return rows.map((row) => ({
    account: toAccount(row),
    balances: row.balances.map((totals) => ({
      rootLedgerId: row.rootLedgerId,
      accountId: row.id,
      assetId: totals.assetId,
      normalBalance: totals.normalBalance,
      debitsPosted: BigInt(totals.dp),
      creditsPosted: BigInt(totals.cp),
      debitsPending: BigInt(totals.dpe),
      creditsPending: BigInt(totals.cpe),
      version: Number(totals.version),
      updatedAt: totals.updatedAt === null ? null : new Date(totals.updatedAt),
    })),
  }));
}

/** Balances of many accounts in one statement; shards of hot accounts are summed here. */
export async function selectBalances(
  reader: Reader,
  accounts: Array<{ rootLedgerId: string; accountId: string }>,
): Promise<BalanceRow[]> {
  return readPerRoot(accounts, (root, keys) => selectBalancesOfTree(reader, root, keys));
}

async function selectBalancesOfTree(
  reader: Reader,
  rootLedgerId: string,
  accounts: Array<{ accountId: string }>,
): Promise<BalanceRow[]> {
  const { rows } = await reader.query<{
    root_ledger_id: string;
    account_id: string;
    asset_id: string;
    normal_balance: NormalBalance;
    dp: string;
    cp: string;
    dpe: string;
    cpe: string;
    version: string;
    updated_at: Date;
  }>({
    name: 'balances_of_accounts',
    text: `SELECT b.root_ledger_id, b.account_id, b.asset_id, b.normal_balance::text AS normal_balance,
            sum(b.debits_posted)::text AS dp, sum(b.credits_posted)::text AS cp,
            sum(b.debits_pending)::text AS dpe, sum(b.credits_pending)::text AS cpe,
            sum(b.version)::text AS version, max(b.updated_at) AS updated_at
       FROM unnest($2::uuid[]) AS q(account_id)
       JOIN balances b ON b.root_ledger_id = $1 AND b.account_id = q.account_id
      GROUP BY b.root_ledger_id, b.account_id, b.asset_id, b.normal_balance
      ORDER BY b.account_id, b.asset_id`,
    values: [rootLedgerId, accounts.map((account) => account.accountId)],
  });
  return rows.map((row) => ({
    rootLedgerId: row.root_ledger_id,
    accountId: row.account_id,
    assetId: row.asset_id,
    normalBalance: row.normal_balance,
    debitsPosted: BigInt(row.dp),
    creditsPosted: BigInt(row.cp),
    debitsPending: BigInt(row.dpe),
    creditsPending: BigInt(row.cpe),
    version: Number(row.version),
    updatedAt: row.updated_at,
  }));
}
