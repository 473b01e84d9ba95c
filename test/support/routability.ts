/**
 * Reads pg_stat_statements for the routability test (test/statements.routability.ts): which statements touch
 * a tenant table (one with a root_ledger_id column) without saying which root they are about. On Citus such a
 * statement fans out to every shard, or is refused (docs/citus-routing.md).
 *
 * The reading is textual, on the normalised statements pg_stat_statements keeps, and deliberately simple:
 * - a statement touches a table it names after FROM, JOIN, UPDATE, INTO or DELETE FROM;
 * - a root predicate is `root_ledger_id = …`, `… = x.root_ledger_id`, `root_ledger_id IN …`,
 *   `(root_ledger_id, …) IN / = …` or `USING (… root_ledger_id …)`;
 * - a statement is routed when it has at least as many root predicates as references to tenant tables (each
 *   table filtered by root, or joined to one that is on the root); an INSERT's target counts as routed when
 *   root_ledger_id is in its column list (the value routes it).
 */

export interface AllowedStatement {
  /** Matches the normalised statement text (whitespace collapsed to single spaces). */
  pattern: RegExp;
  /** Why this statement may reach every shard; reviewed with the list. */
  reason: string;
}

const TABLE_REFERENCE = /\b(?:FROM|JOIN|UPDATE|INTO)\s+(?:ONLY\s+)?(?:"?public"?\.)?"?([a-z_][a-z0-9_]*)"?/gi;
// `=` as written, or as the foreign-key checks spell it: OPERATOR(pg_catalog.=).
const EQ = String.raw`(?:=|OPERATOR\(pg_catalog\.=\))`;
const ROOT_PREDICATE = new RegExp(
  [
    String.raw`root_ledger_id"?\s*(?:${EQ}|IN\b)`,
    String.raw`${EQ}\s*(?:"?\w+"?\.)*"?root_ledger_id\b`,
    String.raw`\(\s*(?:"?\w+"?\.)*"?root_ledger_id"?\s*,[^()]*\)\s*(?:${EQ}|IN\b)`,
    String.raw`USING\s*\([^)]*root_ledger_id`,
  ].join('|'),
  'gi',
);
const INSERT_TARGET = /\bINSERT\s+INTO\s+(?:"?public"?\.)?"?([a-z_][a-z0-9_]*)"?\s*(?:AS\s+\w+\s*)?\(([^)]*)\)/gi;
const DATA_STATEMENT = /^\s*(?:\/\*.*?\*\/\s*)*(?:SELECT|WITH|INSERT|UPDATE|DELETE|MERGE)\b/is;

export function normalise(query: string): string {
  return query
    .replace(/--[^\n]*/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The tenant tables a statement names, once per mention. */
export function tenantReferences(query: string, tenantTables: ReadonlySet<string>): string[] {
  const found: string[] = [];
  for (const match of query.matchAll(TABLE_REFERENCE)) {
    const table = match[1]!.toLowerCase();
    if (tenantTables.has(table)) found.push(table);
  }
  return found;
}

/** Whether a data statement on tenant tables says which root it is about (see the rules above). */
export function isRouted(query: string, tenantTables: ReadonlySet<string>): boolean {
  if (!DATA_STATEMENT.test(query)) return true;
  let references = tenantReferences(query, tenantTables).length;
  if (references === 0) return true;
  for (const insert of query.matchAll(INSERT_TARGET)) {
    if (tenantTables.has(insert[1]!.toLowerCase()) && /\broot_ledger_id\b/.test(insert[2]!)) references -= 1;
  }
  const predicates = [...query.matchAll(ROOT_PREDICATE)].length;
  return predicates >= references;
}

/** The statements that touch tenant tables without their root and that no allow-list entry explains. */
export function unroutedStatements(
  queries: readonly string[],
  tenantTables: ReadonlySet<string>,
  allowed: readonly AllowedStatement[],
): string[] {
  return queries
    .map(normalise)
    .filter((query) => !isRouted(query, tenantTables))
    .filter((query) => !allowed.some((entry) => entry.pattern.test(query)));
}
