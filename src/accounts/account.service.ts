import type { Database } from '../platform/db.js';
import { BadInputError, NotFoundError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { readPage, toConnection, type Connection } from '../platform/pagination.js';
import { requireId, requireName, requirePattern } from '../platform/validation.js';
import { requireReach, requireRole } from '../auth/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import { ledgerPlacement, type LedgerService } from '../ledgers/ledger.service.js';
import { deriveBalance } from '../balances/balances.core.js';
import { Account, AccountStatus, Balance, NormalBalance } from './account.types.js';
import type { Prisma } from '../generated/prisma/client.js';

const ACCOUNT_CODE = /^[A-Za-z0-9][A-Za-z0-9:_.@/-]{0,127}$/;
const RESERVED_PREFIX = 'system:';

/** Account columns under the names the mapper expects, for hand-written SQL. */
export const ACCOUNT_COLUMNS = `a.id, a.root_ledger_id AS "rootLedgerId", a.ledger_id AS "ledgerId", a.code, a.name,
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

export function toAccount(row: AccountRow): Account {
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

export interface CreateAccountInput {
  ledgerId: string;
  code: string;
  name?: string | null;
  normalBalance?: NormalBalance | null;
  allowOverdraft?: boolean | null;
  overdraftLimit?: bigint | null;
  metadata?: Record<string, unknown> | null;
}

export interface UpdateAccountInput {
  name?: string | null;
  status?: AccountStatus | null;
  metadata?: Record<string, unknown> | null;
}

export interface AccountFilter {
  codePrefix?: string | null;
  status?: AccountStatus | null;
  metadata?: Record<string, unknown> | null;
  includeDescendants?: boolean | null;
}

export class AccountService {
  constructor(
    private readonly db: Database,
    private readonly ledgers: LedgerService,
  ) {}

  async create(origin: RequestOrigin, input: CreateAccountInput): Promise<Account> {
    requireRole(origin.principal, 'OPERATOR', 'createAccount');
    const ledger = await this.ledgers.findById(requireId(input.ledgerId, 'ledgerId'));
    if (ledger === null) throw new NotFoundError(`ledger ${input.ledgerId} does not exist`);
    requireReach(origin.principal, ledgerPlacement(ledger), 'the ledger');

    const code = requirePattern(input.code, ACCOUNT_CODE, 'code', 'must be 1 to 128 letters, digits or : _ . @ / -, starting with a letter or digit');
    if (code.startsWith(RESERVED_PREFIX)) throw new BadInputError(`account codes starting with "${RESERVED_PREFIX}" are reserved for system accounts`);
    const allowOverdraft = input.allowOverdraft ?? false;
    const overdraftLimit = input.overdraftLimit ?? null;
    if (overdraftLimit !== null && (!allowOverdraft || overdraftLimit < 0n)) {
      throw new BadInputError('overdraftLimit needs allowOverdraft: true and must be zero or more');
    }
    const data = {
      id: newId(),
      rootLedgerId: ledger.rootLedgerId,
      ledgerId: ledger.id,
      code,
      name: input.name == null ? code : requireName(input.name),
      normalBalance: input.normalBalance ?? NormalBalance.CREDIT,
      allowOverdraft,
      overdraftLimit,
      metadata: (input.metadata ?? {}) as Prisma.InputJsonObject,
    };
    try {
      const row = await this.db.prisma.$transaction(async (tx) => {
        const created = await tx.account.create({ data });
        await tx.auditEvent.create({ data: auditEvent(origin, 'createAccount', ledger.rootLedgerId, [created.id]) });
        return created;
      });
      return toAccount(row);
    } catch (error) {
      if ((error as { code?: string }).code === 'P2002') throw new BadInputError(`account code ${code} is already used in this ledger`);
      throw error;
    }
  }

  /**
   * Status changes lock the account row FOR UPDATE; postings hold FOR KEY SHARE on it, so a close
   * waits for in-flight postings and then sees their effect on the balances it checks.
   */
  async update(origin: RequestOrigin, id: string, input: UpdateAccountInput, loadPlacement: (account: Account) => Promise<{ rootLedgerId: string; ledgerPath: string[] }>): Promise<Account> {
    requireRole(origin.principal, 'OPERATOR', 'updateAccount');
    const existing = await this.findById(requireId(id, 'id'));
    if (existing === null) throw new NotFoundError(`account ${id} does not exist`);
    requireReach(origin.principal, await loadPlacement(existing), 'the account');
    if (existing.isSystem) throw new BadInputError('system accounts cannot be changed');
    const name = input.name == null ? undefined : requireName(input.name);

    const row = await this.db.prisma.$transaction(async (tx) => {
      const [locked] = await tx.$queryRaw<Array<{ status: string }>>`
        SELECT status::text AS status FROM accounts WHERE root_ledger_id = ${existing.rootLedgerId}::uuid AND id = ${existing.id}::uuid FOR UPDATE`;
      const current = locked!.status as AccountStatus;
      const next = input.status ?? current;
      if (current === AccountStatus.CLOSED && next !== AccountStatus.CLOSED) {
        throw new BadInputError('a CLOSED account cannot be reopened');
      }
      if (next === AccountStatus.CLOSED && current !== AccountStatus.CLOSED) {
        const balances = await tx.$queryRaw<Array<{ asset_id: string }>>`
          SELECT asset_id FROM balances
           WHERE root_ledger_id = ${existing.rootLedgerId}::uuid AND account_id = ${existing.id}::uuid
             AND (debits_posted <> credits_posted OR debits_pending <> 0 OR credits_pending <> 0)
           FOR UPDATE`;
        if (balances.length > 0) {
          throw new BadInputError('an account can be closed only when every balance is zero with nothing pending');
        }
      }
      const updated = await tx.account.update({
        where: { rootLedgerId_id: { rootLedgerId: existing.rootLedgerId, id: existing.id } },
        data: { name, status: next, metadata: input.metadata == null ? undefined : (input.metadata as Prisma.InputJsonObject), updatedAt: new Date() },
      });
      await tx.auditEvent.create({ data: auditEvent(origin, 'updateAccount', existing.rootLedgerId, [existing.id]) });
      return updated;
    });
    return toAccount(row);
  }

  // The reads below are on every request's path (postings, account queries, loaders): one named
  // prepared statement each, without the ORM, whose per-query CPU is several times a raw query's.
  async findById(id: string): Promise<Account | null> {
    const { rows } = await this.db.pool.query<AccountRow>({ name: 'account_by_id', text: `SELECT ${ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1`, values: [id] });
    return rows[0] ? toAccount(rows[0]) : null;
  }

  async findByCode(rootLedgerId: string, ledgerId: string, code: string): Promise<Account | null> {
    const { rows } = await this.db.pool.query<AccountRow>({
      name: 'account_by_code',
      text: `SELECT ${ACCOUNT_COLUMNS} FROM accounts a WHERE a.root_ledger_id = $1 AND a.ledger_id = $2 AND a.code = $3`,
      values: [rootLedgerId, ledgerId, code],
    });
    return rows[0] ? toAccount(rows[0]) : null;
  }

  async fetchByIds(ids: string[]): Promise<Account[]> {
    const { rows } = await this.db.pool.query<AccountRow>({ name: 'accounts_by_ids', text: `SELECT ${ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = ANY($1::uuid[])`, values: [ids] });
    return rows.map(toAccount);
  }

  async list(ledger: { id: string; rootLedgerId: string }, filter: AccountFilter | null | undefined, first?: number | null, after?: string | null): Promise<Connection<Account>> {
    const page = readPage(first, after);
    const prefix = filter?.codePrefix ?? null;
    const { rows } = await this.db.pool.query<AccountRow>(
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
      [ledger.rootLedgerId, filter?.includeDescendants ?? false, ledger.id, prefix, filter?.status ?? null, filter?.metadata ? JSON.stringify(filter.metadata) : null, page.after, page.size + 1],
    );
    return toConnection(rows.map(toAccount), page);
  }

  /**
   * Accounts with their balances, in one statement: for a read that will resolve both (an account by
   * id with its balances), one round trip instead of two.
   */
  async fetchWithBalances(ids: string[]): Promise<Array<{ account: Account; balances: Balance[] }>> {
    type Totals = { assetId: string; normalBalance: NormalBalance; dp: string; cp: string; dpe: string; cpe: string; version: string; updatedAt: string | null };
    const { rows } = await this.db.pool.query<AccountRow & { balances: Totals[] }>({
      name: 'accounts_with_balances',
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
               FROM accounts a WHERE a.id = ANY($1::uuid[])`,
      values: [ids],
    });
    return rows.map((row) => ({
      account: toAccount(row),
      balances: row.balances.map((totals) =>
        toBalance(
          { rootLedgerId: row.rootLedgerId, accountId: row.id, assetId: totals.assetId, normalBalance: totals.normalBalance },
          { debitsPosted: BigInt(totals.dp), creditsPosted: BigInt(totals.cp), debitsPending: BigInt(totals.dpe), creditsPending: BigInt(totals.cpe) },
          Number(totals.version),
          totals.updatedAt === null ? null : new Date(totals.updatedAt),
        ),
      ),
    }));
  }

  /** Balances of many accounts in one statement; shards of hot accounts are summed here. */
  async balancesOf(accounts: Array<{ rootLedgerId: string; accountId: string }>): Promise<Balance[]> {
    const { rows } = await this.db.pool.query<{
      root_ledger_id: string; account_id: string; asset_id: string; normal_balance: NormalBalance;
      dp: string; cp: string; dpe: string; cpe: string; version: string; updated_at: Date;
    }>({
      name: 'balances_of_accounts',
      text: `SELECT b.root_ledger_id, b.account_id, b.asset_id, b.normal_balance::text AS normal_balance,
              sum(b.debits_posted)::text AS dp, sum(b.credits_posted)::text AS cp,
              sum(b.debits_pending)::text AS dpe, sum(b.credits_pending)::text AS cpe,
              sum(b.version)::text AS version, max(b.updated_at) AS updated_at
         FROM unnest($1::uuid[], $2::uuid[]) AS q(root_ledger_id, account_id)
         JOIN balances b ON b.root_ledger_id = q.root_ledger_id AND b.account_id = q.account_id
        GROUP BY b.root_ledger_id, b.account_id, b.asset_id, b.normal_balance
        ORDER BY b.account_id, b.asset_id`,
      values: [accounts.map((account) => account.rootLedgerId), accounts.map((account) => account.accountId)],
    });
    return rows.map((row) =>
      toBalance(
        { rootLedgerId: row.root_ledger_id, accountId: row.account_id, assetId: row.asset_id, normalBalance: row.normal_balance },
        { debitsPosted: BigInt(row.dp), creditsPosted: BigInt(row.cp), debitsPending: BigInt(row.dpe), creditsPending: BigInt(row.cpe) },
        Number(row.version),
        row.updated_at,
      ),
    );
  }
}

export function toBalance(
  owner: { rootLedgerId: string; accountId: string; assetId: string; normalBalance: NormalBalance },
  totals: { debitsPosted: bigint; creditsPosted: bigint; debitsPending: bigint; creditsPending: bigint },
  version: number,
  updatedAt: Date | null,
): Balance {
  return Object.assign(new Balance(), {
    rootLedgerId: owner.rootLedgerId,
    accountId: owner.accountId,
    assetId: owner.assetId,
    debitsPosted: totals.debitsPosted,
    creditsPosted: totals.creditsPosted,
    debitsPending: totals.debitsPending,
    creditsPending: totals.creditsPending,
    ...deriveBalance(totals, owner.normalBalance),
    version,
    updatedAt,
  });
}
