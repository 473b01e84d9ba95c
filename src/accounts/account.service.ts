import type { Database } from '../platform/db.js';
import { BadInputError, NotFoundError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { readPage, toConnection, type Connection } from '../platform/pagination.js';
import { requireId, requireName, requirePattern } from '../platform/validation.js';
import { authorize, ledgerPlacement, requireReach, type Placement } from '../authorization/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import type { LedgerService } from '../ledgers/ledger.service.js';
import { deriveBalance } from '../balances/balances.core.js';
import { insertAuditEvent } from '../audit/audit.repository.js';
import {
  insertAccount,
  lockAccountStatus,
  lockUnsettledBalances,
  selectAccount,
  selectAccountByCode,
  selectAccountPage,
  selectAccounts,
  selectAccountsWithBalances,
  selectBalances,
  updateAccountRow,
  type BalanceRow,
} from './account.repository.js';
import { AccountStatus, Balance, NormalBalance, type Account } from './account.types.js';
import type { Prisma } from '../generated/prisma/client.js';

const ACCOUNT_CODE = /^[A-Za-z0-9][A-Za-z0-9:_.@/-]{0,127}$/;
const RESERVED_PREFIX = 'system:';

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
    authorize(origin.principal, 'createAccount');
    const ledger = await this.ledgers.findById(requireId(input.ledgerId, 'ledgerId'));
    if (ledger === null) throw new NotFoundError(`ledger ${input.ledgerId} does not exist`);
    requireReach(origin.principal, ledgerPlacement(ledger), 'the ledger');

    const code = requirePattern(
      input.code,
      ACCOUNT_CODE,
      'code',
      'must be 1 to 128 letters, digits or : _ . @ / -, starting with a letter or digit',
    );
    if (code.startsWith(RESERVED_PREFIX))
      throw new BadInputError(`account codes starting with "${RESERVED_PREFIX}" are reserved for system accounts`);
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
      const account = await this.db.prisma.$transaction(async (tx) => {
        const created = await insertAccount(tx, data);
        await insertAuditEvent(tx, auditEvent(origin, 'createAccount', ledger.rootLedgerId, [created.id]));
        return created;
      });
      this.db.roots.remember('accounts', account.id, account.rootLedgerId);
      return account;
    } catch (error) {
      if ((error as { code?: string }).code === 'P2002')
        throw new BadInputError(`account code ${code} is already used in this ledger`);
      throw error;
    }
  }

  /**
   * Status changes lock the account row FOR UPDATE; postings hold FOR KEY SHARE on it, so a close
   * waits for in-flight postings and then sees their effect on the balances it checks.
   */
  async update(
    origin: RequestOrigin,
    id: string,
    input: UpdateAccountInput,
    loadPlacement: (account: Account) => Promise<Placement>,
  ): Promise<Account> {
    authorize(origin.principal, 'updateAccount');
    const existing = await this.findById(requireId(id, 'id'));
    if (existing === null) throw new NotFoundError(`account ${id} does not exist`);
    requireReach(origin.principal, await loadPlacement(existing), 'the account');
    if (existing.isSystem) throw new BadInputError('system accounts cannot be changed');
    const name = input.name == null ? undefined : requireName(input.name);

    return this.db.prisma.$transaction(async (tx) => {
      const current = await lockAccountStatus(tx, existing);
      const next = input.status ?? current;
      if (current === AccountStatus.CLOSED && next !== AccountStatus.CLOSED) {
        throw new BadInputError('a CLOSED account cannot be reopened');
      }
      if (next === AccountStatus.CLOSED && current !== AccountStatus.CLOSED) {
        if (await lockUnsettledBalances(tx, existing)) {
          throw new BadInputError('an account can be closed only when every balance is zero with nothing pending');
        }
      }
      const updated = await updateAccountRow(tx, existing, {
        name,
        status: next,
        metadata: input.metadata == null ? undefined : (input.metadata as Prisma.InputJsonObject),
        updatedAt: new Date(),
      });
      await insertAuditEvent(tx, auditEvent(origin, 'updateAccount', existing.rootLedgerId, [existing.id]));
      return updated;
    });
  }

  async findById(id: string): Promise<Account | null> {
    const root = await this.db.roots.rootOf('accounts', id);
    return root === null ? null : selectAccount(this.db.pool, root, id);
  }

  findByCode(rootLedgerId: string, ledgerId: string, code: string): Promise<Account | null> {
    return selectAccountByCode(this.db.pool, rootLedgerId, ledgerId, code);
  }

  fetchByIds(ids: string[]): Promise<Account[]> {
    return this.db.roots.readByRoot('accounts', ids, (root, rootIds) => selectAccounts(this.db.pool, root, rootIds));
  }

  async list(
    ledger: { id: string; rootLedgerId: string },
    filter: AccountFilter | null | undefined,
    first?: number | null,
    after?: string | null,
  ): Promise<Connection<Account>> {
    const page = readPage(first, after);
    const rows = await selectAccountPage(
      this.db.pool,
      ledger,
      {
        includeDescendants: filter?.includeDescendants ?? false,
        codePrefix: filter?.codePrefix ?? null,
        status: filter?.status ?? null,
        metadata: filter?.metadata ?? null,
      },
      page,
    );
    return toConnection(this.db.roots.rememberRows('accounts', rows), page);
  }

  /** Accounts with their balances, in one statement per tree (one round trip where two would do). */
  async fetchWithBalances(ids: string[]): Promise<Array<{ account: Account; balances: Balance[] }>> {
    // The read behind S6a (an account with its balances by id): one statement on first sight too.
    const rows = await this.db.roots.readKnownByRoot(
      'accounts',
      ids,
      async (root, rootIds) => (await selectAccountsWithBalances(this.db.pool, root, rootIds)).map(keyed),
      async (unknown) => (await selectAccountsWithBalances(this.db.pool, null, unknown)).map(keyed),
    );
    return rows.map(({ entry: { account, balances } }) => ({
      account,
      balances: balances.map(balanceOf),
    }));
  }

  /** Balances of many accounts in one statement; shards of hot accounts are summed. */
  async balancesOf(accounts: Array<{ rootLedgerId: string; accountId: string }>): Promise<Balance[]> {
    return (await selectBalances(this.db.pool, accounts)).map(balanceOf);
  }
}

/** An account and its balances, with the account's id and root on top (for RootDirectory.readKnownByRoot). */
function keyed(entry: { account: Account; balances: BalanceRow[] }) {
  return { id: entry.account.id, rootLedgerId: entry.account.rootLedgerId, entry };
}

function balanceOf(row: BalanceRow): Balance {
  return toBalance(row, row, row.version, row.updatedAt);
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
