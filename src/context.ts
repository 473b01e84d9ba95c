import DataLoader from 'dataloader';
import { canReach, canSeeAccount, requireReach, type Placement, type Principal } from './auth/access.core.js';
import type { RequestOrigin } from './audit/audit.js';
import type { Account, Balance } from './accounts/account.types.js';
import type { AccountService } from './accounts/account.service.js';
import type { Asset } from './assets/asset.types.js';
import type { AssetService } from './assets/asset.service.js';
import type { Ledger, LedgerBalance } from './ledgers/ledger.types.js';
import { ledgerPlacement, type LedgerService } from './ledgers/ledger.service.js';
import type { PostingService } from './postings/postings.service.js';
import type { Entry, Transaction } from './transactions/transaction.types.js';
import type { EntryPageKey, TransactionService } from './transactions/transaction.service.js';
import type { ApiKeyService } from './auth/api-key.service.js';
import type { BalanceHistoryService } from './accounts/balance-history.service.js';
import type { LotService } from './lots/lots.service.js';
import type { ExpiryService } from './jobs/expiry.service.js';
import type { IntegrityService } from './integrity/integrity.service.js';
import type { AuditService } from './audit/audit.service.js';
import type { Authenticator } from './auth/authenticator.js';
import type { CustomerTokenService } from './auth/customer-token.service.js';
import type { SubscriptionConnection, SubscriptionService } from './subscriptions/subscription.service.js';
import { ForbiddenError } from './platform/errors.js';
import { LOADER_BATCH_MAX, loaderById, loaderOfGroups } from './platform/loader.js';
import type { Connection } from './platform/pagination.js';

export interface Services {
  ledgers: LedgerService;
  assets: AssetService;
  accounts: AccountService;
  balanceHistory: BalanceHistoryService;
  transactions: TransactionService;
  postings: PostingService;
  lots: LotService;
  expiry: ExpiryService;
  integrity: IntegrityService;
  audit: AuditService;
  apiKeys: ApiKeyService;
  customerTokens: CustomerTokenService;
  authenticator: Authenticator;
  subscriptions: SubscriptionService;
}

/**
 * One set per request: every relation in a response is fetched in batches, never row by row.
 *
 * Each loader is made the first time it is asked for. A request uses two or three of the thirteen, and
 * a subscription's context lives as long as the subscription and gets a new set for every event: made
 * eagerly, the set was thirteen DataLoaders with their maps and closures, about 4 KB per subscription.
 */
export class Loaders {
  private readonly made: Partial<Record<LoaderName, unknown>> = {};

  constructor(private readonly services: Services) {}

  get ledgerById() {
    return this.once('ledgerById', () => loaderById<Ledger>((ids) => this.services.ledgers.fetchByIds(ids)));
  }

  get ledgerPlacement() {
    return this.once('ledgerPlacement', () =>
      new DataLoader<string, Placement | null>(
        async (ids) => {
          const found = await this.services.ledgers.placements([...ids]);
          return ids.map((id) => found.get(id) ?? null);
        },
        { maxBatchSize: LOADER_BATCH_MAX },
      ),
    );
  }

  get ledgerBalances() {
    return this.once('ledgerBalances', () =>
      loaderOfGroups<string, LedgerBalance & { ledgerId: string }>((ids) => this.services.ledgers.subtreeBalances(ids), (row) => row.ledgerId),
    );
  }

  get assetById() {
    return this.once('assetById', () => loaderById<Asset>((ids) => this.services.assets.fetchByIds(ids)));
  }

  get assetsOfRoot() {
    return this.once('assetsOfRoot', () => loaderOfGroups<string, Asset>((roots) => this.services.assets.listForRoots(roots), (asset) => asset.rootLedgerId));
  }

  get accountById() {
    return this.once('accountById', () => loaderById<Account>((ids) => this.services.accounts.fetchByIds(ids)));
  }

  get balancesOfAccount() {
    return this.once('balancesOfAccount', () =>
      loaderOfGroups<{ rootLedgerId: string; accountId: string }, Balance>(
        (keys) => this.services.accounts.balancesOf(keys),
        (balance) => ({ rootLedgerId: balance.rootLedgerId, accountId: balance.accountId }),
        (key) => key.accountId,
      ),
    );
  }

  get transactionById() {
    return this.once('transactionById', () => loaderById<Transaction>((ids) => this.services.transactions.fetchByIds(ids)));
  }

  get entriesOfTransaction() {
    return this.once('entriesOfTransaction', () => loaderOfGroups<string, Entry>((ids) => this.services.transactions.entriesOf(ids), (entry) => entry.transactionId));
  }

  get reversalOf() {
    return this.once('reversalOf', () =>
      loaderOfGroups<{ rootLedgerId: string; id: string }, Transaction>(
        (keys) => this.services.transactions.reversalsOf(keys),
        (reversal) => ({ rootLedgerId: reversal.rootLedgerId, id: reversal.reversalOfId! }),
        (key) => key.id,
      ),
    );
  }

  get settlementsOf() {
    return this.once('settlementsOf', () =>
      new DataLoader<string, Array<{ holdId: string; captureId: string | null }>>(
        async (ids) => {
          const rows = await this.services.transactions.settlementsOf([...ids]);
          return ids.map((id) => rows.filter((row) => row.holdId === id || row.captureId === id));
        },
        { maxBatchSize: LOADER_BATCH_MAX },
      ),
    );
  }

  get entryPages() {
    return this.once('entryPages', () =>
      new DataLoader<EntryPageKey, Connection<Entry>, string>(
        async (keys) => {
          // Accounts asking for the same page shape share one statement.
          const groups = new Map<string, number[]>();
          keys.forEach((key, index) => {
            const shape = pageShape(key);
            groups.set(shape, [...(groups.get(shape) ?? []), index]);
          });
          const results = new Array<Connection<Entry>>(keys.length);
          await Promise.all(
            [...groups.values()].map(async (indexes) => {
              const pages = await this.services.transactions.entryPages(indexes.map((index) => keys[index]!));
              indexes.forEach((index, position) => (results[index] = pages[position]!));
            }),
          );
          return results;
        },
        { maxBatchSize: LOADER_BATCH_MAX, cacheKeyFn: (key) => `${key.accountId}|${pageShape(key)}` },
      ),
    );
  }

  /** Accounts whose balances the response will read: both in one statement, the balances primed. */
  get accountWithBalances() {
    return this.once('accountWithBalances', () =>
      new DataLoader<string, Account | null>(
        async (ids) => {
          const found = new Map((await this.services.accounts.fetchWithBalances([...ids])).map((entry) => [entry.account.id, entry]));
          return ids.map((id) => {
            const entry = found.get(id);
            if (entry === undefined) return null;
            this.accountById.prime(id, entry.account);
            this.balancesOfAccount.prime({ rootLedgerId: entry.account.rootLedgerId, accountId: id }, entry.balances);
            return entry.account;
          });
        },
        { maxBatchSize: LOADER_BATCH_MAX },
      ),
    );
  }

  private once<T>(name: LoaderName, make: () => T): T {
    return (this.made[name] ??= make()) as T;
  }
}

// Private members are not part of keyof: these are the loader getters alone.
type LoaderName = keyof Loaders;

function pageShape(key: EntryPageKey): string {
  return JSON.stringify([key.page, key.assetId, key.from, key.to]);
}

/**
 * Scope checks for objects reached through relations. System accounts of the caller's own tree are
 * visible to every credential in it, because they are every posting's counterparties.
 */
export class Access {
  constructor(
    readonly principal: Principal,
    private readonly loaders: Loaders,
  ) {}

  ledger(ledger: Ledger): Ledger {
    requireReach(this.principal, ledgerPlacement(ledger), `ledger ${ledger.code}`);
    return ledger;
  }

  async account(account: Account): Promise<Account> {
    const { principal } = this;
    // Only a scoped key looking at a non-system account needs the account's place in the tree.
    const needsPath = principal.account === undefined && principal.scope !== null && !account.isSystem;
    const ledgerPath = needsPath ? ((await this.loaders.ledgerPlacement.load(account.ledgerId))?.ledgerPath ?? []) : [];
    if (!canSeeAccount(principal, { rootLedgerId: account.rootLedgerId, ledgerPath, accountId: account.id, isSystem: account.isSystem })) {
      throw new ForbiddenError(principal.account ? 'a customer token reads only its own account' : `account ${account.code} is outside this credential's ledger scope`);
    }
    return account;
  }

  /**
   * A transaction is visible when it was posted in, or touches an account in, the caller's scope; to a
   * customer token, when it touches the token's account.
   */
  async transaction(transaction: Transaction): Promise<Transaction> {
    const grant = this.principal.account;
    if (grant !== undefined) {
      const entries = await this.loaders.entriesOfTransaction.load(transaction.id);
      if (!entries.some((entry) => entry.accountId === grant.accountId)) throw new ForbiddenError('a customer token reads only transactions of its own account');
      return transaction;
    }
    if (this.principal.scope === null) return transaction;
    const ledgerIds = new Set([transaction.ledgerId, ...(await this.loaders.entriesOfTransaction.load(transaction.id)).map((entry) => entry.ledgerId)]);
    const placements = await this.loaders.ledgerPlacement.loadMany([...ledgerIds]);
    const visible = placements.some((placement) => placement !== null && !(placement instanceof Error) && canReach(this.principal, placement));
    if (!visible) throw new ForbiddenError(`transaction ${transaction.id} is outside this credential's ledger scope`);
    return transaction;
  }

  /** A customer token sees only its own lines of a transaction, never the counterparties'. */
  entries(entries: Entry[]): Entry[] {
    const grant = this.principal.account;
    return grant === undefined ? entries : entries.filter((entry) => entry.accountId === grant.accountId);
  }
}

export interface RequestContext {
  origin: RequestOrigin;
  services: Services;
  loaders: Loaders;
  access: Access;
  /** Present for operations over WebSocket. */
  connection?: SubscriptionConnection;
}

export function createRequestContext(services: Services, origin: RequestOrigin, connection?: SubscriptionConnection): RequestContext {
  const loaders = new Loaders(services);
  return { origin, services, loaders, access: new Access(origin.principal, loaders), connection };
}

/**
 * A subscription's context lives as long as the subscription; every event starts with empty loaders so
 * that it reads fresh data, never what an earlier event cached.
 */
export function renewLoaders(ctx: RequestContext): void {
  ctx.loaders = new Loaders(ctx.services);
  ctx.access = new Access(ctx.origin.principal, ctx.loaders);
}
