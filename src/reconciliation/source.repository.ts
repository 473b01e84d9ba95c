import type pg from 'pg';

/**
 * All SQL of sources and match rules, raw through pg: a rule change locks its source row and shares one
 * transaction with the audit row, and the import (import.repository.ts) locks the same row. Every function
 * takes the pool or a transaction's client.
 */
type Reader = pg.Pool | pg.PoolClient;

export interface SourceRow {
  id: string;
  rootLedgerId: string;
  ledgerId: string;
  code: string;
  name: string;
  continuous: boolean;
  rulesVersion: number;
  createdAt: Date;
}

export interface RuleRow {
  id: string;
  rootLedgerId: string;
  sourceId: string;
  priority: number;
  referenceField: string;
  matchAccount: boolean;
  amountTolerance: bigint;
  dateWindowSeconds: number;
  version: number;
  retiredAt: Date | null;
  createdAt: Date;
}

interface RawSource {
  id: string;
  root_ledger_id: string;
  ledger_id: string;
  code: string;
  name: string;
  continuous: boolean;
  rules_version: number;
  created_at: Date;
}

interface RawRule {
  id: string;
  root_ledger_id: string;
  source_id: string;
  priority: number;
  reference_field: string;
  match_account: boolean;
  amount_tolerance: string;
  date_window_seconds: number;
  version: number;
  retired_at: Date | null;
  created_at: Date;
}

const SOURCE_COLUMNS =
  's.id, s.root_ledger_id, s.ledger_id, s.code, s.name, s.continuous, s.rules_version, s.created_at';
const RULE_COLUMNS = `r.id, r.root_ledger_id, r.source_id, r.priority, r.reference_field, r.match_account,
  r.amount_tolerance::text AS amount_tolerance, r.date_window_seconds, r.version, r.retired_at, r.created_at`;

function toSource(row: RawSource): SourceRow {
  return {
    id: row.id,
    rootLedgerId: row.root_ledger_id,
    ledgerId: row.ledger_id,
    code: row.code,
    name: row.name,
    continuous: row.continuous,
    rulesVersion: row.rules_version,
    createdAt: row.created_at,
  };
}

function toRule(row: RawRule): RuleRow {
  return {
    id: row.id,
    rootLedgerId: row.root_ledger_id,
    sourceId: row.source_id,
    priority: row.priority,
    referenceField: row.reference_field,
    matchAccount: row.match_account,
    amountTolerance: BigInt(row.amount_tolerance),
    dateWindowSeconds: row.date_window_seconds,
    version: row.version,
    retiredAt: row.retired_at,
    createdAt: row.created_at,
  };
}

export async function insertSource(
  client: pg.PoolClient,
  row: Pick<SourceRow, 'id' | 'rootLedgerId' | 'ledgerId' | 'code' | 'name' | 'continuous'>,
): Promise<SourceRow> {
  const { rows } = await client.query<RawSource>(
    `INSERT INTO reconciliation_sources AS s (id, root_ledger_id, ledger_id, code, name, continuous)
     VALUES ($1, $2, $3, $4, $5, $6)
     RETURNING ${SOURCE_COLUMNS}`,
    [row.id, row.rootLedgerId, row.ledgerId, row.code, row.name, row.continuous],
  );
  return toSource(rows[0]!);
}

/** Sources of one tree by id. */
export async function selectSources(
  reader: Reader,
  rootLedgerId: string,
  ids: readonly string[],
): Promise<SourceRow[]> {
  const { rows } = await reader.query<RawSource>({
    name: 'reconciliation_sources_by_id',
    text: `SELECT ${SOURCE_COLUMNS} FROM reconciliation_sources s WHERE s.root_ledger_id = $1 AND s.id = ANY($2::uuid[])`,
    values: [rootLedgerId, ids],
  });
  return rows.map(toSource);
}

/** The sources whose ledger is in the subtree under `ledgerId`, by id. */
export async function selectSourcePage(
  reader: Reader,
  rootLedgerId: string,
  ledgerId: string,
  after: string | null,
  size: number,
): Promise<SourceRow[]> {
  const { rows } = await reader.query<RawSource>(
    `SELECT ${SOURCE_COLUMNS}
       FROM reconciliation_sources s
       JOIN ledgers l ON l.root_ledger_id = s.root_ledger_id AND l.id = s.ledger_id
      WHERE s.root_ledger_id = $1 AND l.path @> ARRAY[$2::uuid] AND ($3::uuid IS NULL OR s.id > $3::uuid)
      ORDER BY s.id
      LIMIT $4`,
    [rootLedgerId, ledgerId, after, size + 1],
  );
  return rows.map(toSource);
}

/**
 * Locks the source for a rule change or an import's merge and moves its rules version when asked: rule
 * changes and imports of one source take turns, and a run reading the version sees a settled one.
 */
export async function lockSource(
  client: pg.PoolClient,
  rootLedgerId: string,
  id: string,
  bumpRulesVersion: boolean,
): Promise<SourceRow | null> {
  const { rows } = bumpRulesVersion
    ? await client.query<RawSource>(
        `UPDATE reconciliation_sources s SET rules_version = rules_version + 1
          WHERE s.root_ledger_id = $1 AND s.id = $2
          RETURNING ${SOURCE_COLUMNS}`,
        [rootLedgerId, id],
      )
    : await client.query<RawSource>(
        `SELECT ${SOURCE_COLUMNS} FROM reconciliation_sources s
          WHERE s.root_ledger_id = $1 AND s.id = $2 FOR NO KEY UPDATE`,
        [rootLedgerId, id],
      );
  return rows[0] === undefined ? null : toSource(rows[0]);
}

/** Retires the rule in force at a priority, if any; the ids retired. */
export async function retireRuleAt(
  client: pg.PoolClient,
  rootLedgerId: string,
  sourceId: string,
  priority: number,
): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>(
    `UPDATE reconciliation_rules SET retired_at = now()
      WHERE root_ledger_id = $1 AND source_id = $2 AND priority = $3 AND retired_at IS NULL
      RETURNING id`,
    [rootLedgerId, sourceId, priority],
  );
  return rows.map((row) => row.id);
}

export async function insertRule(
  client: pg.PoolClient,
  row: Omit<RuleRow, 'retiredAt' | 'createdAt'>,
): Promise<RuleRow> {
  const { rows } = await client.query<RawRule>(
    `INSERT INTO reconciliation_rules AS r (id, root_ledger_id, source_id, priority, reference_field, match_account,
                                           amount_tolerance, date_window_seconds, version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     RETURNING ${RULE_COLUMNS}`,
    [
      row.id,
      row.rootLedgerId,
      row.sourceId,
      row.priority,
      row.referenceField,
      row.matchAccount,
      row.amountTolerance.toString(),
      row.dateWindowSeconds,
      row.version,
    ],
  );
  return toRule(rows[0]!);
}

/** The rules in force of each source, in priority order. */
export async function selectActiveRules(reader: Reader, sourceIds: readonly string[]): Promise<RuleRow[]> {
  const { rows } = await reader.query<RawRule>({
    name: 'reconciliation_rules_active',
    text: `SELECT ${RULE_COLUMNS} FROM reconciliation_rules r
            WHERE r.source_id = ANY($1::uuid[]) AND r.retired_at IS NULL
            ORDER BY r.source_id, r.priority`,
    values: [sourceIds],
  });
  return rows.map(toRule);
}
