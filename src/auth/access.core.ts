import { ForbiddenError } from '../platform/errors.js';

/**
 * Who is calling and what they may reach: pure rules, no I/O. A principal with a scope sees only the
 * ledger subtree under `scope.ledgerId`; one without a scope (the bootstrap admin, global keys) sees all.
 */
export type Role = 'ADMIN' | 'OPERATOR' | 'READER';

export interface Scope {
  rootLedgerId: string;
  ledgerId: string;
}

export interface Principal {
  /** Audit actor: the API key id, or "bootstrap-admin". */
  actorId: string;
  actorType: 'api_key' | 'bootstrap' | 'system';
  role: Role;
  scope: Scope | null;
}

/** Anything placed in a ledger tree: a ledger (its own path) or an account (its ledger's path). */
export interface Placement {
  rootLedgerId: string;
  /** Ledger ids from the root down to the ledger holding the object. */
  ledgerPath: readonly string[];
}

/** The server itself, acting on schedule (expiry, hold timeouts). */
export const SYSTEM_PRINCIPAL: Principal = { actorId: 'system', actorType: 'system', role: 'ADMIN', scope: null };

const ROLE_RANK: Record<Role, number> = { READER: 1, OPERATOR: 2, ADMIN: 3 };

export function hasRole(principal: Principal, minimum: Role): boolean {
  return ROLE_RANK[principal.role] >= ROLE_RANK[minimum];
}

export function requireRole(principal: Principal, minimum: Role, action: string): void {
  if (!hasRole(principal, minimum)) {
    throw new ForbiddenError(`${action} needs the ${minimum} role; this credential is ${principal.role}`);
  }
}

export function canReach(principal: Principal, placement: Placement): boolean {
  const { scope } = principal;
  return scope === null || (scope.rootLedgerId === placement.rootLedgerId && placement.ledgerPath.includes(scope.ledgerId));
}

export function requireReach(principal: Principal, placement: Placement, what: string): void {
  if (!canReach(principal, placement)) throw new ForbiddenError(`${what} is outside this credential's ledger scope`);
}

/** Granting a key: only within the granter's own scope, and never a role above the granter's. */
export function requireCanGrant(granter: Principal, role: Role, placement: Placement | null): void {
  requireRole(granter, 'ADMIN', 'createApiKey');
  if (!hasRole(granter, role)) throw new ForbiddenError(`cannot grant ${role}, which is above this credential's role`);
  if (placement === null) {
    if (granter.scope !== null) throw new ForbiddenError('a scoped key cannot create a global key');
    return;
  }
  requireReach(granter, placement, 'the key scope ledger');
}
