import { ForbiddenError } from '../platform/errors.js';
import { authorize, canSeeAccount, OPERATION_ROLE, requireCanCreateRoot, requireCanManageKey, requirePostingReach, type Operation, type Principal, type Role } from './access.core.js';

const ROOT = 'root-1';
const REGION = 'region-1';
const principal = (role: Role, scope: Principal['scope'] = null): Principal => ({ actorId: `key-${role}`, actorType: 'api_key', role, scope });
const customer: Principal = { actorId: 'acct-1', actorType: 'customer_token', role: 'CUSTOMER', scope: { rootLedgerId: ROOT, ledgerId: REGION }, account: { rootLedgerId: ROOT, ledgerId: REGION, accountId: 'acct-1' } };

describe('authorize', () => {
  it('lets every role at or above the one the table names perform the operation, and refuses the rest', () => {
    const ranks: Role[] = ['CUSTOMER', 'READER', 'OPERATOR', 'ADMIN'];
    for (const [operation, least] of Object.entries(OPERATION_ROLE) as Array<[Operation, Role]>) {
      for (const role of ranks) {
        const allowed = ranks.indexOf(role) >= ranks.indexOf(least);
        if (allowed) expect(() => authorize(principal(role), operation)).not.toThrow();
        else expect(() => authorize(principal(role), operation)).toThrow(ForbiddenError);
      }
    }
  });

  it('refuses a customer token every operation, even a read', () => {
    for (const operation of Object.keys(OPERATION_ROLE) as Operation[]) expect(() => authorize(customer, operation)).toThrow(ForbiddenError);
  });

  it('names the operation and both roles in the refusal, or the name the client used', () => {
    expect(() => authorize(principal('OPERATOR'), 'createLedger')).toThrow('createLedger needs the ADMIN role; this credential is OPERATOR');
    expect(() => authorize(principal('OPERATOR'), 'adjust', 'an ADJUST transaction')).toThrow('an ADJUST transaction needs the ADMIN role; this credential is OPERATOR');
  });
});

describe('requirePostingReach', () => {
  const scoped = principal('OPERATOR', { rootLedgerId: ROOT, ledgerId: REGION });

  it('accepts customer accounts inside the scope and system accounts of the tree', () => {
    expect(() =>
      requirePostingReach(scoped, [
        { code: 'customer:1', isSystem: false, rootLedgerId: ROOT, ledgerPath: [ROOT, REGION, 'store-1'] },
        { code: 'system:issuance', isSystem: true, rootLedgerId: ROOT, ledgerPath: [ROOT] },
      ]),
    ).not.toThrow();
  });

  it('refuses a customer account outside the scope, naming it', () => {
    expect(() => requirePostingReach(scoped, [{ code: 'customer:2', isSystem: false, rootLedgerId: ROOT, ledgerPath: [ROOT, 'region-2'] }])).toThrow(
      "account customer:2 is outside this credential's ledger scope",
    );
  });
});

describe('canSeeAccount', () => {
  it('shows a customer token its own account and no other, not even a system account', () => {
    const own = { accountId: 'acct-1', rootLedgerId: ROOT, ledgerPath: [ROOT, REGION], isSystem: false };
    expect(canSeeAccount(customer, own)).toBe(true);
    expect(canSeeAccount(customer, { ...own, accountId: 'acct-2' })).toBe(false);
    expect(canSeeAccount(customer, { ...own, accountId: 'sys-1', isSystem: true })).toBe(false);
  });
});

describe('tenancy rules', () => {
  const scoped = principal('ADMIN', { rootLedgerId: ROOT, ledgerId: REGION });

  it('lets only a credential bound to no tree create a root ledger', () => {
    expect(() => requireCanCreateRoot(principal('ADMIN'))).not.toThrow();
    expect(() => requireCanCreateRoot(scoped)).toThrow('only a global admin credential can create a root ledger');
  });

  it('lets a scoped admin manage the keys of its subtree, and only a global one manage global keys', () => {
    expect(() => requireCanManageKey(scoped, { rootLedgerId: ROOT, ledgerPath: [ROOT, REGION, 'store-1'] })).not.toThrow();
    expect(() => requireCanManageKey(scoped, { rootLedgerId: ROOT, ledgerPath: [ROOT] })).toThrow("the API key is outside this credential's ledger scope");
    expect(() => requireCanManageKey(scoped, null)).toThrow("a global API key is outside this credential's ledger scope");
    expect(() => requireCanManageKey(principal('ADMIN'), null)).not.toThrow();
  });
});
