import type pg from 'pg';

/**
 * The tables whose rows are named by a bare id from outside (a GraphQL id, a webhook's target) and so need
 * their root found before a statement can name it.
 */
export type RootedTable =
  | 'ledgers'
  | 'accounts'
  | 'transactions'
  | 'reconciliation_sources'
  | 'reconciliation_runs'
  | 'reconciliation_records'
  | 'reconciliation_exceptions'
  | 'assets'
  | 'limits'
  | 'gift_cards'
  | 'webhook_endpoints'
  | 'webhook_deliveries';

/**
 * The root directory's one statement: the roots of ids it has not seen. It names no root (that is what
 * it looks up), so on Citus it reaches every shard; it runs once per id per process (docs/citus-routing.md,
 * and the routability test's allow-list).
 */
export async function selectRootsOf(
  reader: pg.Pool | pg.PoolClient,
  table: RootedTable,
  ids: string[],
): Promise<Array<{ id: string; root: string }>> {
  const { rows } = await reader.query<{ id: string; root: string }>({
    name: `root_directory_${table}`,
    // `table` is one of RootedTable's literal names, never input.
    text: `SELECT id, root_ledger_id AS root FROM ${table} WHERE id = ANY($1::uuid[])`,
    values: [ids],
  });
  return rows;
}
