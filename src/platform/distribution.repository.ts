import type pg from 'pg';
import {
  type CatalogForeignKey,
  type CatalogTable,
  COLOCATION_TABLE,
  DISTRIBUTION_ARGUMENT,
  DISTRIBUTION_COLUMN,
  type DistributionStep,
  planDistribution,
} from './distribution.core.js';

/** The database has no Citus extension: `db:distribute` changes nothing. */
export class CitusMissingError extends Error {
  readonly code = 'CITUS_MISSING';
  constructor(database: string) {
    super(
      `database "${database}" has no Citus extension: run CREATE EXTENSION citus in it on the coordinator and on ` +
        'every worker, and register the workers with citus_add_node (docs/citus.md)',
    );
  }
}

export interface DistributeOptions {
  /** Shards per distributed table when a table is first distributed (Citus's default is 32). */
  shardCount?: number;
  /** One line per change made. */
  log?: (line: string) => void;
}

export interface DistributeReport {
  citusVersion: string;
  steps: string[];
}

/**
 * Hands the schema to Citus: every tenant table sharded by `root_ledger_id` and colocated with `ledgers`,
 * the global tables replicated, the posting functions routed by their root argument, and the two changes
 * the Citus planner needs (docs/citus.md). Each step is skipped when already done, so re-running it, as
 * after every migration, changes only what the migration added.
 */
export async function distributeSchema(
  client: pg.ClientBase,
  options: DistributeOptions = {},
): Promise<DistributeReport> {
  const log = options.log ?? (() => undefined);
  const { rows: extension } = await client.query<{ version: string | null; database: string }>(
    "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'citus') AS version, current_database() AS database",
  );
  if (extension[0].version === null) throw new CitusMissingError(extension[0].database);
  const steps: string[] = [];
  const step = (line: string) => {
    steps.push(line);
    log(line);
  };

  // Triggers on distributed tables (append-only guards, event capture) only touch their own row's shard
  // and colocated shards of the same root, which is what Citus asks us to promise here.
  await client.query('SET citus.enable_unsafe_triggers = on');
  if (options.shardCount !== undefined) await client.query(`SET citus.shard_count = ${Math.trunc(options.shardCount)}`);

  for (const name of await functionsForcingGenericPlans(client)) {
    // A generic plan hides the root from the Citus planner, which then cannot route the statement.
    await client.query(`ALTER FUNCTION ${name} RESET plan_cache_mode`);
    step(`reset plan_cache_mode on ${name}`);
  }
  for (const enumType of await enumsWithoutImmutableText(client)) {
    await createImmutableTextCast(client, enumType);
    step(`immutable cast ${enumType} -> text`);
  }

  const plan = planDistribution(await catalogTables(client), await catalogForeignKeys(client));
  for (const planned of plan) {
    await runStep(client, planned);
    step(`${planned.kind === 'distribute' ? 'distributed' : 'replicated'} ${planned.table}`);
  }
  for (const name of await undistributedPostingFunctions(client)) {
    await client.query(
      // force_delegation: delegated inside transaction blocks too (a gift card's issuance), and the function's
      // statements may run on the root's local shards, which Citus checks stay on that one root.
      `SELECT create_distributed_function($1::regprocedure, distribution_arg_name => $2, colocate_with => $3,
                                          force_delegation => true)`,
      [name, DISTRIBUTION_ARGUMENT, COLOCATION_TABLE],
    );
    step(`routed ${name} by ${DISTRIBUTION_ARGUMENT}`);
  }
  return { citusVersion: extension[0].version, steps };
}

async function runStep(client: pg.ClientBase, planned: DistributionStep): Promise<void> {
  if (planned.kind === 'distribute') {
    await client.query('SELECT create_distributed_table($1, $2, colocate_with => $3)', [
      quoteIdent(planned.table),
      DISTRIBUTION_COLUMN,
      planned.table === COLOCATION_TABLE ? 'default' : COLOCATION_TABLE,
    ]);
  } else {
    await client.query('SELECT create_reference_table($1)', [quoteIdent(planned.table)]);
  }
}

async function catalogTables(client: pg.ClientBase): Promise<CatalogTable[]> {
  const { rows } = await client.query<{ name: string; has_column: boolean; known: boolean }>(
    `SELECT c.relname AS name,
            EXISTS (SELECT 1 FROM pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attname = $1 AND NOT a.attisdropped) AS has_column,
            EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid) AS known
       FROM pg_class c
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      ORDER BY c.relname`,
    [DISTRIBUTION_COLUMN],
  );
  return rows.map((row) => ({ name: row.name, hasDistributionColumn: row.has_column, alreadyDistributed: row.known }));
}

async function catalogForeignKeys(client: pg.ClientBase): Promise<CatalogForeignKey[]> {
  const { rows } = await client.query<CatalogForeignKey>(
    `SELECT k.conrelid::regclass::text AS "from", k.confrelid::regclass::text AS "to"
       FROM pg_constraint k
      WHERE k.contype = 'f' AND k.connamespace = 'public'::regnamespace`,
  );
  return rows.map((row) => ({ from: unquote(row.from), to: unquote(row.to) }));
}

async function functionsForcingGenericPlans(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT p.oid::regprocedure::text AS name
       FROM pg_proc p
      WHERE p.pronamespace = 'public'::regnamespace
        AND EXISTS (SELECT 1 FROM unnest(p.proconfig) setting WHERE setting LIKE 'plan\\_cache\\_mode=%')
      ORDER BY 1`,
  );
  return rows.map((row) => row.name);
}

/**
 * Enums of the schema without a cast to text of their own. Prisma reads enum columns back as
 * `"kind"::text`, an I/O conversion Postgres calls STABLE, which Citus refuses in RETURNING; a cast through
 * an IMMUTABLE function is accepted. Only on Citus: on plain Postgres the function call costs more than
 * the built-in conversion.
 */
async function enumsWithoutImmutableText(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT t.oid::regtype::text AS name
       FROM pg_type t
      WHERE t.typnamespace = 'public'::regnamespace AND t.typtype = 'e'
        AND NOT EXISTS (SELECT 1 FROM pg_cast c WHERE c.castsource = t.oid AND c.casttarget = 'text'::regtype)
      ORDER BY 1`,
  );
  return rows.map((row) => row.name);
}

async function createImmutableTextCast(client: pg.ClientBase, enumType: string): Promise<void> {
  const functionName = quoteIdent(`${unquote(enumType)}_text`);
  // textin(enum_out(...)) rather than ::text, which would call this very cast. Labels are never renamed
  // here (a migration would add a new one), so the answer does not change: IMMUTABLE is honest.
  await client.query(
    `CREATE OR REPLACE FUNCTION ${functionName}(${enumType}) RETURNS text
       LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT textin(enum_out($1)) $$`,
  );
  await client.query(`CREATE CAST (${enumType} AS text) WITH FUNCTION ${functionName}(${enumType})`);
}

async function undistributedPostingFunctions(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT p.oid::regprocedure::text AS name
       FROM pg_proc p
      WHERE p.pronamespace = 'public'::regnamespace AND p.prokind = 'f' AND p.proargnames[1] = $1
        AND NOT EXISTS (SELECT 1 FROM pg_dist_object o
                         WHERE o.classid = 'pg_proc'::regclass AND o.objid = p.oid
                           AND o.distribution_argument_index IS NOT NULL)
      ORDER BY 1`,
    [DISTRIBUTION_ARGUMENT],
  );
  return rows.map((row) => row.name);
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function unquote(name: string): string {
  return name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name;
}
