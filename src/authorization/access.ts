import { ForbiddenError, NotFoundError } from '../platform/errors.js';
import { requireId } from '../platform/validation.js';
import { authorize, canReach, canSeeAccount, isExpired, ledgerPlacement, requireReach, type AccountPlacement, type Operation, type Placement, type Principal } from '../authorization/access.core.js';

/** A ledger as the rules see it (the GraphQL `Ledger` is one). */
export interface PlacedLedger {
  id: string;
  code: string;
  rootLedgerId: string;
  parentId: string | null;
  path: readonly string[];
}

/** An account as the rules see it (the GraphQL `Account` is one). */
export interface PlacedAccount {
  id: string;
  code: string;
  rootLedgerId: string;
  ledgerId: string;
  isSystem: boolean;
}

/** A transaction, and the lines of it the rules look at. */
export interface PlacedTransaction {
  id: string;
  ledgerId: string;
}
export interface PlacedEntry {
  accountId: string;
  ledgerId: string;
}

/** Where a ledger sits, for list queries that need no more than that: read from the placement cache. */
export interface LedgerRef {
  id: string;
  rootLedgerId: string;
  parentId: string | null;
}

interface Loader<K, V> {
  load(key: K): Promise<V>;
  loadMany(keys: readonly K[]): Promise<Array<V | Error>>;
}

/**
 * What the checks read, batched per request: the request's own DataLoaders satisfy it. Declared here so
 * that this module imports no domain module; every domain module imports it.
 */
export interface AccessLoaders<L extends PlacedLedger, A extends PlacedAccount> {
  readonly ledgerById: Loader<string, L | null>;
  readonly ledgerPlacement: Loader<string, Placement | null>;
  readonly accountById: Loader<string, A | null>;
  readonly entriesOfTransaction: Loader<string, readonly PlacedEntry[]>;
}

/**
 * "May this principal do this to that", for one request (or one event of a subscription): the rules of
 * access.core.ts applied to objects read through the request's loaders. Every resolver and subscription
 * asks here. Nothing is remembered beyond the loaders' own per-request cache, so no decision outlives the
 * request that made it.
 *
 * System accounts of the caller's own tree are visible to every credential in it, because they are every
 * posting's counterparties.
 */
export class Access<L extends PlacedLedger = PlacedLedger, A extends PlacedAccount = PlacedAccount> {
  constructor(
    readonly principal: Principal,
    private readonly loaders: AccessLoaders<L, A>,
  ) {}

  /** Refuses an operation the principal's role does not allow (the table in access.core.ts). */
  require(operation: Operation): void {
    authorize(this.principal, operation);
  }

  /** Whether the credential is still valid: a customer token expires while its subscriptions run. */
  isCurrent(now: Date): boolean {
    return !isExpired(this.principal, now);
  }

  /** Whether the principal may see what a ledger (of this placement) holds; for per-event checks. */
  reaches(placement: Placement): boolean {
    return canReach(this.principal, placement);
  }

  /** Whether the principal may read the account; for per-event checks of an account already placed. */
  seesAccount(account: AccountPlacement): boolean {
    return canSeeAccount(this.principal, account);
  }

  ledger<T extends PlacedLedger>(ledger: T): T {
    requireReach(this.principal, ledgerPlacement(ledger), `ledger ${ledger.code}`);
    return ledger;
  }

  async account<T extends PlacedAccount>(account: T): Promise<T> {
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
  async transaction<T extends PlacedTransaction>(transaction: T): Promise<T> {
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
  entries<T extends PlacedEntry>(entries: T[]): T[] {
    const grant = this.principal.account;
    return grant === undefined ? entries : entries.filter((entry) => entry.accountId === grant.accountId);
  }

  /** Resolves a ledger id argument to a ledger the caller may see. */
  async visibleLedger(ledgerId: string, argument = 'ledgerId'): Promise<L> {
    const ledger = await this.loaders.ledgerById.load(requireId(ledgerId, argument));
    if (ledger === null) throw new NotFoundError(`ledger ${ledgerId} does not exist`);
    return this.ledger(ledger);
  }

  /** Like `visibleLedger`, with the same errors, for callers that only need the ledger's place in its tree. */
  async visibleLedgerRef(ledgerId: string): Promise<LedgerRef> {
    const id = requireId(ledgerId, 'ledgerId');
    const placement = await this.loaders.ledgerPlacement.load(id);
    if (placement === null) throw new NotFoundError(`ledger ${ledgerId} does not exist`);
    requireReach(this.principal, placement, 'the ledger');
    return { id, rootLedgerId: placement.rootLedgerId, parentId: placement.ledgerPath.at(-2) ?? null };
  }

  /**
   * The root of a ledger argument's tree, for reports that cover a whole tree (audit trail, integrity):
   * the caller must see the ledger, then reach its root.
   */
  async visibleTree(ledgerId: string): Promise<L> {
    const ledger = await this.visibleLedger(ledgerId);
    return ledger.parentId === null ? ledger : this.visibleLedger(ledger.rootLedgerId);
  }

  /**
   * The ledger whose subtree is everything the principal sees, for a request that names no ledger and no
   * account: null for a global credential, the top of its scope for a scoped key. A customer token sees
   * no ledger, only its account; it is refused with `refusal`.
   */
  widestLedger(refusal: string): string | null {
    const { principal } = this;
    if (principal.account !== undefined) throw new ForbiddenError(refusal);
    return principal.scope?.ledgerId ?? null;
  }

  /** Resolves an account id argument to an account the caller may read. */
  async visibleAccount(accountId: string, argument = 'accountId'): Promise<A> {
    const account = await this.loaders.accountById.load(requireId(accountId, argument));
    if (account === null) throw new NotFoundError(`account ${accountId} does not exist`);
    return this.account(account);
  }
}

/**
 * For resolvers of the write-path branch (lots.resolver.ts) until it lands: the same check as
 * `ctx.access.visibleLedger`. The lead removes it at merge.
 */
export function visibleLedger<L extends PlacedLedger>(ctx: { access: Access<L> }, ledgerId: string): Promise<L> {
  return ctx.access.visibleLedger(ledgerId);
}
