/**
 * What `npm run db:distribute` does to a Citus database, decided from the catalog: which tables are sharded
 * by `root_ledger_id` (colocated with `ledgers`), which are replicated to every node, and in what order, so
 * that every foreign key points at a table Citus already knows. Pure: the catalog is read elsewhere.
 */

/** The distribution column: every tenant table carries it, and every posting touches one value of it. */
export const DISTRIBUTION_COLUMN = 'root_ledger_id';
/** Every distributed table is colocated with this one, so a root's rows of every table share a shard. */
export const COLOCATION_TABLE = 'ledgers';
/** Posting functions are routed to the worker that holds this argument's shard. */
export const DISTRIBUTION_ARGUMENT = 'p_root_ledger_id';

/**
 * Tables replicated to every node although they carry the column: credentials are looked up by id before
 * the root is known, and root codes and gift card codes are unique across roots (and looked up to find
 * the root). A table without the column is replicated too.
 */
export const REPLICATED_TABLES: readonly string[] = ['api_keys', 'gift_card_codes', 'root_ledger_codes'];
/** Bookkeeping of the migration runner: stays a plain table on the coordinator, where migrations run. */
export const LOCAL_TABLES: readonly string[] = ['_prisma_migrations'];

export interface CatalogTable {
  name: string;
  hasDistributionColumn: boolean;
  /** Already known to Citus (distributed or replicated): left as it is. */
  alreadyDistributed: boolean;
}

export interface CatalogForeignKey {
  from: string;
  to: string;
}

export type DistributionStep = { kind: 'distribute'; table: string } | { kind: 'replicate'; table: string };

export class DistributionPlanError extends Error {
  readonly code = 'DISTRIBUTION_PLAN';
}

/**
 * The tables to hand to Citus, in an order it accepts: `ledgers` first (the colocation group), then every
 * other sharded table after the tables its foreign keys reference, then the replicated tables (`api_keys`
 * is replicated only once `ledgers` is distributed). Tables Citus already knows are skipped, so a second
 * run plans nothing.
 */
export function planDistribution(tables: CatalogTable[], foreignKeys: CatalogForeignKey[]): DistributionStep[] {
  const pending = tables.filter((table) => !table.alreadyDistributed && !LOCAL_TABLES.includes(table.name));
  const sharded = pending.filter((table) => table.hasDistributionColumn && !REPLICATED_TABLES.includes(table.name));
  const replicated = pending.filter((table) => !sharded.includes(table));
  const colocation = tables.find((table) => table.name === COLOCATION_TABLE);
  if (colocation === undefined)
    throw new DistributionPlanError(`no "${COLOCATION_TABLE}" table: run the migrations first`);

  const shardedNames = new Set(sharded.map((table) => table.name));
  const ordered: string[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const place = (name: string): void => {
    if (placed.has(name) || !shardedNames.has(name)) return;
    if (visiting.has(name)) {
      throw new DistributionPlanError(`foreign keys form a cycle through "${name}": distribute by hand`);
    }
    visiting.add(name);
    for (const key of foreignKeys) if (key.from === name && key.to !== name) place(key.to);
    visiting.delete(name);
    placed.add(name);
    ordered.push(name);
  };
  place(COLOCATION_TABLE);
  for (const name of [...shardedNames].sort()) place(name);

  return [
    ...ordered.map((table): DistributionStep => ({ kind: 'distribute', table })),
    ...replicated.map((table): DistributionStep => ({ kind: 'replicate', table: table.name })).sort(byTable),
  ];
}

function byTable(a: DistributionStep, b: DistributionStep): number {
  return a.table < b.table ? -1 : a.table > b.table ? 1 : 0;
}
