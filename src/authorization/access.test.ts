import { ForbiddenError, NotFoundError } from '../platform/errors.js';
import { Access, type AccessLoaders, type PlacedAccount, type PlacedEntry, type PlacedLedger } from './access.js';
import type { Placement, Principal } from './access.core.js';

const ROOT = '018f0000-0000-7000-8000-000000000001';
const REGION = '018f0000-0000-7000-8000-000000000002';
const OTHER = '018f0000-0000-7000-8000-000000000003';
const ledgers: PlacedLedger[] = [
  { id: ROOT, code: 'root', rootLedgerId: ROOT, parentId: null, path: [ROOT] },
  { id: REGION, code: 'region', rootLedgerId: ROOT, parentId: ROOT, path: [ROOT, REGION] },
  { id: OTHER, code: 'other', rootLedgerId: ROOT, parentId: ROOT, path: [ROOT, OTHER] },
];

function loader<V>(find: (key: string) => V) {
  return { load: async (key: string) => find(key), loadMany: async (keys: readonly string[]) => keys.map(find) };
}

const loaders: AccessLoaders<PlacedLedger, PlacedAccount> = {
  ledgerById: loader((id) => ledgers.find((ledger) => ledger.id === id) ?? null),
  ledgerPlacement: loader((id): Placement | null => {
    const ledger = ledgers.find((candidate) => candidate.id === id);
    return ledger ? { rootLedgerId: ledger.rootLedgerId, ledgerPath: ledger.path } : null;
  }),
  accountById: loader((): PlacedAccount | null => null),
  entriesOfTransaction: loader((): readonly PlacedEntry[] => []),
};

const global: Principal = { actorId: 'admin', actorType: 'bootstrap', role: 'ADMIN', scope: null };
const scoped: Principal = { actorId: 'key', actorType: 'api_key', role: 'ADMIN', scope: { rootLedgerId: ROOT, ledgerId: REGION } };
const customer: Principal = { ...scoped, actorType: 'customer_token', role: 'CUSTOMER', account: { rootLedgerId: ROOT, ledgerId: REGION, accountId: 'acct' } };

describe('Access', () => {
  it('says what "everything" is: all for a global credential, its scope for a scoped key, nothing for a customer token', () => {
    expect(new Access(global, loaders).widestLedger('no')).toBeNull();
    expect(new Access(scoped, loaders).widestLedger('no')).toBe(REGION);
    expect(() => new Access(customer, loaders).widestLedger('a customer token follows only its own account')).toThrow(ForbiddenError);
  });

  it('gives a tree-wide report only to a credential that reaches the root', async () => {
    await expect(new Access(global, loaders).visibleTree(REGION)).resolves.toMatchObject({ id: ROOT });
    await expect(new Access(scoped, loaders).visibleTree(REGION)).rejects.toThrow("ledger root is outside this credential's ledger scope");
  });

  it('refuses a ledger outside the scope and reports one that does not exist', async () => {
    const access = new Access(scoped, loaders);
    await expect(access.visibleLedger(OTHER)).rejects.toThrow(ForbiddenError);
    await expect(access.visibleLedgerRef(OTHER)).rejects.toThrow(ForbiddenError);
    await expect(access.visibleLedger('018f0000-0000-7000-8000-0000000000ff')).rejects.toThrow(NotFoundError);
    await expect(access.visibleLedgerRef(REGION)).resolves.toEqual({ id: REGION, rootLedgerId: ROOT, parentId: ROOT });
  });
});
