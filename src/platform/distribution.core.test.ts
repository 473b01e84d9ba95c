import { DistributionPlanError, planDistribution, type CatalogTable } from './distribution.core';

const table = (name: string, hasDistributionColumn = true, alreadyDistributed = false): CatalogTable => ({
  name,
  hasDistributionColumn,
  alreadyDistributed,
});

describe('planDistribution', () => {
  it('distributes ledgers first and every table after the tables its foreign keys reference', () => {
    const steps = planDistribution(
      [table('entries'), table('accounts'), table('ledgers'), table('transactions')],
      [
        { from: 'entries', to: 'transactions' },
        { from: 'entries', to: 'accounts' },
        { from: 'accounts', to: 'ledgers' },
        { from: 'transactions', to: 'ledgers' },
        { from: 'ledgers', to: 'ledgers' },
      ],
    );
    expect(steps).toEqual([
      { kind: 'distribute', table: 'ledgers' },
      { kind: 'distribute', table: 'accounts' },
      { kind: 'distribute', table: 'transactions' },
      { kind: 'distribute', table: 'entries' },
    ]);
  });

  it('replicates global tables after the distributed ones, and leaves the migration bookkeeping local', () => {
    const steps = planDistribution(
      [table('api_keys'), table('ledgers'), table('settings', false), table('_prisma_migrations', false)],
      [],
    );
    expect(steps).toEqual([
      { kind: 'distribute', table: 'ledgers' },
      { kind: 'replicate', table: 'api_keys' },
      { kind: 'replicate', table: 'settings' },
    ]);
  });

  it('plans nothing for tables Citus already knows, so a second run changes nothing', () => {
    expect(planDistribution([table('ledgers', true, true), table('api_keys', true, true)], [])).toEqual([]);
  });

  it('distributes only the new table after a migration added one', () => {
    expect(
      planDistribution(
        [table('ledgers', true, true), table('accounts', true, true), table('vouchers')],
        [{ from: 'vouchers', to: 'accounts' }],
      ),
    ).toEqual([{ kind: 'distribute', table: 'vouchers' }]);
  });

  it('refuses a schema without ledgers, and a cycle of foreign keys', () => {
    expect(() => planDistribution([table('accounts')], [])).toThrow(DistributionPlanError);
    expect(() =>
      planDistribution(
        [table('ledgers'), table('a'), table('b')],
        [
          { from: 'a', to: 'b' },
          { from: 'b', to: 'a' },
        ],
      ),
    ).toThrow(/cycle/);
  });
});
