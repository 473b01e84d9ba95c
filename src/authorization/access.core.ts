import { ForbiddenError } from '../platform/errors.js';

/**
 * Who is calling and what they may reach: pure rules, no I/O. A principal with a scope sees only the
 * ledger subtree under `scope.ledgerId`; one without a scope (the bootstrap admin, global keys) sees all.
 * A customer token is narrower still: it reaches no ledger at all, only its one account.
 */
export type Role = 'ADMIN' | 'OPERATOR' | 'READER' | 'CUSTOMER';

export interface Scope {
  rootLedgerId: string;
  ledgerId: string;
}

/** The one account a customer token may read. */
export interface AccountGrant {
  rootLedgerId: string;
  ledgerId: string;
  accountId: string;
}

export interface Principal {
  /** Audit actor: the API key id, "bootstrap-admin", or a customer token's account id (its subject). */
  actorId: string;
  actorType: 'api_key' | 'bootstrap' | 'customer_token' | 'system';
  role: Role;
  /** For a customer token, its account's ledger, so that nothing mistakes it for a global credential. */
  scope: Scope | null;
  /** Customer tokens only. */
  account?: AccountGrant;
  /** When the credential stops being valid; absent for API keys, which last until revoked. */
  expiresAt?: Date;
}

/** An account as the rules see it: where it is placed, and whether it is a system account. */
export interface AccountPlacement extends Placement {
  accountId: string;
  isSystem: boolean;
}

/** Anything placed in a ledger tree: a ledger (its own path) or an account (its ledger's path). */
export interface Placement {
  rootLedgerId: string;
  /** Ledger ids from the root down to the ledger holding the object. */
  ledgerPath: readonly string[];
}

/** The server itself, acting on schedule (expiry, hold timeouts). */
export const SYSTEM_PRINCIPAL: Principal = { actorId: 'system', actorType: 'system', role: 'ADMIN', scope: null };

// CUSTOMER ranks below READER, so every role requirement (even to read) refuses a customer token.
const ROLE_RANK: Record<Role, number> = { CUSTOMER: 0, READER: 1, OPERATOR: 2, ADMIN: 3 };

/**
 * Every operation that needs more than reach, and the least role that may perform it: the one table to
 * read for "who may do what". Reading an object needs reach alone (`canReach`, `canSeeAccount`, applied
 * by `Access`); every write, and the few reads that need a role, are named here. The name is also what a
 * refusal says ("createLedger needs the ADMIN role").
 */
export const OPERATION_ROLE = {
  ledgers: 'READER',
  createLedger: 'ADMIN',
  createAsset: 'ADMIN',
  createAccount: 'OPERATOR',
  updateAccount: 'OPERATOR',
  createApiKey: 'ADMIN',
  revokeApiKey: 'ADMIN',
  createCustomerToken: 'OPERATOR',
  auditEvents: 'ADMIN',
  events: 'READER',
  /** Webhooks, like API keys: an endpoint holds a secret and sends the subtree's events outside. */
  webhookEndpoint: 'ADMIN',
  webhookEndpoints: 'ADMIN',
  createWebhookEndpoint: 'ADMIN',
  updateWebhookEndpoint: 'ADMIN',
  rotateWebhookSecret: 'ADMIN',
  deleteWebhookEndpoint: 'ADMIN',
  redeliverWebhooks: 'ADMIN',
  sendTestWebhook: 'ADMIN',
  runExpiry: 'ADMIN',
  /** Reconciliation: reading sources and records needs reach alone; rules decide what counts as reconciled. */
  externalSource: 'READER',
  externalSources: 'READER',
  externalRecords: 'READER',
  createExternalSource: 'ADMIN',
  createMatchRule: 'ADMIN',
  /** GraphQL and the streamed HTTP import alike: day-to-day work that moves no value, like posting. */
  importExternalRecords: 'OPERATOR',
  postTransaction: 'OPERATOR',
  postTransactions: 'OPERATOR',
  issue: 'OPERATOR',
  redeem: 'OPERATOR',
  hold: 'OPERATOR',
  postPendingTransaction: 'OPERATOR',
  voidPendingTransaction: 'OPERATOR',
  transfer: 'OPERATOR',
  /** Also a postTransaction of kind ADJUST. */
  adjust: 'ADMIN',
  reverseTransaction: 'ADMIN',
  /** A rate decides how much value one asset buys of another throughout the tree, like an asset's terms. */
  setExchangeRate: 'ADMIN',
  /** A transfer-like write on one customer account. */
  convert: 'OPERATOR',
  /** Point-of-sale operations: the caller holds the card's code and PIN, or sells the card. */
  issueGiftCard: 'OPERATOR',
  giftCardBalance: 'OPERATOR',
  redeemGiftCard: 'OPERATOR',
  unlockGiftCard: 'ADMIN',
  /** Program limits (issue 13): rules of the program, like assets. */
  createLimit: 'ADMIN',
  deleteLimit: 'ADMIN',
  /**
   * Reconciliation runs: a DRY_RUN only reads the subtree and writes its own report, so OPERATOR may run
   * one; a COMMIT asserts matches that later runs rely on, so it is ADMIN's, like resolving an exception
   * (which may post an ADJUST). Reading runs and exceptions needs reach alone.
   */
  runReconciliation: 'OPERATOR',
  commitReconciliation: 'ADMIN',
  resolveReconciliationException: 'ADMIN',
} as const satisfies Record<string, Role>;

export type Operation = keyof typeof OPERATION_ROLE;

/**
 * Refuses the operation unless the principal's role is at least the one the table names for it. `what`
 * names it in the refusal when the client called it by another name (a postTransaction of kind ADJUST).
 */
export function authorize(principal: Principal, operation: Operation, what: string = operation): void {
  requireRole(principal, OPERATION_ROLE[operation], what);
}

export function hasRole(principal: Principal, minimum: Role): boolean {
  return ROLE_RANK[principal.role] >= ROLE_RANK[minimum];
}

export function requireRole(principal: Principal, minimum: Role, action: string): void {
  if (!hasRole(principal, minimum)) {
    throw new ForbiddenError(`${action} needs the ${minimum} role; this credential is ${principal.role}`);
  }
}

/** Whether the principal may see a ledger (or whatever a ledger holds). Customer tokens see none. */
export function canReach(principal: Principal, placement: Placement): boolean {
  if (principal.account !== undefined) return false;
  const { scope } = principal;
  return (
    scope === null || (scope.rootLedgerId === placement.rootLedgerId && placement.ledgerPath.includes(scope.ledgerId))
  );
}

/**
 * Whether the principal may read an account. A customer token reads only its own; a scoped key reads the
 * accounts of its subtree and the system accounts of its root, which are every posting's counterparties.
 */
export function canSeeAccount(principal: Principal, account: AccountPlacement): boolean {
  const grant = principal.account;
  if (grant !== undefined) return grant.accountId === account.accountId && grant.rootLedgerId === account.rootLedgerId;
  const { scope } = principal;
  if (scope === null || (account.isSystem && scope.rootLedgerId === account.rootLedgerId)) return true;
  return canReach(principal, account);
}

export function isExpired(principal: Principal, now: Date): boolean {
  return principal.expiresAt !== undefined && principal.expiresAt.getTime() <= now.getTime();
}

export function requireReach(principal: Principal, placement: Placement, what: string): void {
  if (!canReach(principal, placement)) throw new ForbiddenError(`${what} is outside this credential's ledger scope`);
}

/** A new root ledger is a new tenant: only a credential bound to no tree may create one. */
export function requireCanCreateRoot(principal: Principal): void {
  if (principal.scope !== null) throw new ForbiddenError('only a global admin credential can create a root ledger');
}

/**
 * Managing (revoking) an API key: a scoped key's needs reach over the key's ledger; a global key's
 * needs a global credential.
 */
export function requireCanManageKey(principal: Principal, keyPlacement: Placement | null): void {
  if (keyPlacement !== null) requireReach(principal, keyPlacement, 'the API key');
  else if (principal.scope !== null)
    throw new ForbiddenError("a global API key is outside this credential's ledger scope");
}

/** A ledger's place in its tree: its own path. */
export function ledgerPlacement(ledger: { rootLedgerId: string; path: readonly string[] }): Placement {
  return { rootLedgerId: ledger.rootLedgerId, ledgerPath: ledger.path };
}

/** An account a posting names, as the posting path knows it (its ledger's path read with the account). */
export interface PostingTarget extends Placement {
  code: string;
  isSystem: boolean;
}

/**
 * Whether the principal may post to every account a posting names: each customer account must be within
 * its reach; system accounts are every posting's counterparties (that they share the posting's root is
 * checked with the other posting rules). For the posting engine; it reads the accounts itself, in the
 * statement it needs anyway, so the check costs no round trip.
 */
export function requirePostingReach(principal: Principal, accounts: Iterable<PostingTarget>): void {
  for (const account of accounts) {
    if (!account.isSystem)
      requireReach(
        principal,
        { rootLedgerId: account.rootLedgerId, ledgerPath: account.ledgerPath },
        `account ${account.code}`,
      );
  }
}

/** Granting a key: only within the granter's own scope, and never a role above the granter's. */
export function requireCanGrant(granter: Principal, role: Role, placement: Placement | null): void {
  authorize(granter, 'createApiKey');
  if (!hasRole(granter, role)) throw new ForbiddenError(`cannot grant ${role}, which is above this credential's role`);
  if (placement === null) {
    if (granter.scope !== null) throw new ForbiddenError('a scoped key cannot create a global key');
    return;
  }
  requireReach(granter, placement, 'the key scope ledger');
}
