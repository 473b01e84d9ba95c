import type pg from 'pg';
import type { Page } from '../platform/pagination.js';
import type { ExceptionKind, ExceptionStatus, MatchRuleSpec, RunMode, RunStatus, RunSummary } from './matcher.core.js';

/** SQL of reconciliation runs: their rows, what a run reads and writes, and the pages read back. */
type Reader = pg.Pool | pg.PoolClient;
/** A row as pg returns it; each mapper below names the columns it reads. */
// biome-ignore lint/suspicious/noExplicitAny: raw rows are mapped field by field into typed rows right here.
type RawRow = Record<string, any>;

export interface SourceRow {
  id: string;
  rootLedgerId: string;
  ledgerId: string;
  continuous: boolean;
  rulesVersion: number;
}

export interface RunRow extends RunSummary {
  id: string;
  rootLedgerId: string;
  sourceId: string;
  mode: RunMode;
  status: RunStatus;
  from: Date;
  to: Date;
  idempotencyKey: string;
  requestHash: string;
  rulesVersion: number;
  ruleIds: string[];
  journalHighWater: string | null;
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
}

export interface ExceptionRow {
  id: string;
  rootLedgerId: string;
  runId: string;
  sourceId: string;
  kind: ExceptionKind;
  status: ExceptionStatus;
  recordId: string | null;
  transactionId: string | null;
  accountId: string | null;
  assetId: string | null;
  expectedAmount: bigint | null;
  ledgerAmount: bigint | null;
  difference: bigint | null;
  resolution: string | null;
  note: string | null;
  resolutionKey: string | null;
  resolutionTransactionId: string | null;
  resolvedBy: string | null;
  resolvedAt: Date | null;
  createdAt: Date;
}

const SOURCE_COLUMNS = `s.id, s.root_ledger_id, s.ledger_id, s.continuous, s.rules_version`;

function toSource(row: RawRow): SourceRow {
  return {
    id: row.id,
    rootLedgerId: row.root_ledger_id,
    ledgerId: row.ledger_id,
    continuous: row.continuous,
    rulesVersion: row.rules_version,
  };
}

export async function selectSource(reader: Reader, rootLedgerId: string, id: string): Promise<SourceRow | null> {
  const { rows } = await reader.query(
    `SELECT ${SOURCE_COLUMNS} FROM reconciliation_sources s WHERE s.root_ledger_id = $1 AND s.id = $2`,
    [rootLedgerId, id],
  );
  return rows[0] === undefined ? null : toSource(rows[0]);
}

/**
 * Locks the source for a writer of its matches (a COMMIT run, the continuous matcher, a manual match), so
 * they take turns: each then reads the others' matches before it pairs anything. `skipLocked` is the
 * continuous matcher's: a source another instance (or a run) holds is left for the next pass.
 */
export async function lockSource(
  client: pg.PoolClient,
  rootLedgerId: string,
  id: string,
  skipLocked = false,
): Promise<SourceRow | null> {
  const { rows } = await client.query(
    `SELECT ${SOURCE_COLUMNS} FROM reconciliation_sources s WHERE s.root_ledger_id = $1 AND s.id = $2
        FOR UPDATE${skipLocked ? ' SKIP LOCKED' : ''}`,
    [rootLedgerId, id],
  );
  return rows[0] === undefined ? null : toSource(rows[0]);
}

/** The source's rules in force, in the order they apply (priority, then id). */
export async function selectActiveRules(
  reader: Reader,
  rootLedgerId: string,
  sourceId: string,
): Promise<MatchRuleSpec[]> {
  const { rows } = await reader.query(
    `SELECT id, priority, reference_field, match_account, amount_tolerance::text AS amount_tolerance, date_window_seconds
       FROM reconciliation_rules
      WHERE root_ledger_id = $1 AND source_id = $2 AND retired_at IS NULL
      ORDER BY priority, id`,
    [rootLedgerId, sourceId],
  );
  return rows.map((row) => ({
    id: row.id,
    priority: row.priority,
    referenceField: row.reference_field,
    matchAccount: row.match_account,
    amountTolerance: BigInt(row.amount_tolerance),
    dateWindowSeconds: row.date_window_seconds,
  }));
}

const RUN_COLUMNS = `r.id, r.root_ledger_id, r.source_id, r.mode, r.status, r."from", r."to", r.idempotency_key, r.request_hash,
  r.rules_version, r.rule_ids::text[] AS rule_ids, r.journal_high_water, r.external_records, r.ledger_transactions, r.matched,
  r.missing_in_ledger, r.missing_externally, r.amount_mismatch, r.duplicates, r.ambiguous, r.error, r.started_at, r.finished_at`;

function toRun(row: RawRow): RunRow {
  return {
    id: row.id,
    rootLedgerId: row.root_ledger_id,
    sourceId: row.source_id,
    mode: row.mode,
    status: row.status,
    from: row.from,
    to: row.to,
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    rulesVersion: row.rules_version,
    ruleIds: row.rule_ids,
    journalHighWater: row.journal_high_water,
    externalRecords: row.external_records,
    ledgerTransactions: row.ledger_transactions,
    matched: row.matched,
    missingInLedger: row.missing_in_ledger,
    missingExternally: row.missing_externally,
    amountMismatch: row.amount_mismatch,
    duplicates: row.duplicates,
    ambiguous: row.ambiguous,
    error: row.error,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/**
 * Claims the run's idempotency key: inserts the RUNNING row, or returns the run that already holds the
 * key (`claimed` false). A concurrent claimer of the same key waits on the unique index until the first
 * commits, then finds its row.
 */
export interface RunClaim {
  id: string;
  rootLedgerId: string;
  sourceId: string;
  mode: RunMode;
  from: Date;
  to: Date;
  idempotencyKey: string;
  requestHash: string;
  rulesVersion: number;
  ruleIds: string[];
}

export async function claimRun(reader: Reader, run: RunClaim): Promise<{ claimed: boolean; run: RunRow }> {
  const inserted = await reader.query(
    `INSERT INTO reconciliation_runs AS r (id, root_ledger_id, source_id, mode, "from", "to", idempotency_key, request_hash,
                                           rules_version, rule_ids)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::uuid[])
     ON CONFLICT DO NOTHING
     RETURNING ${RUN_COLUMNS}`,
    [
      run.id,
      run.rootLedgerId,
      run.sourceId,
      run.mode,
      run.from,
      run.to,
      run.idempotencyKey,
      run.requestHash,
      run.rulesVersion,
      run.ruleIds,
    ],
  );
  if (inserted.rows[0] !== undefined) return { claimed: true, run: toRun(inserted.rows[0]) };
  const held = await selectRunByKey(reader, { rootLedgerId: run.rootLedgerId, id: run.sourceId }, run.idempotencyKey);
  return { claimed: false, run: held! };
}

/**
 * The session-level advisory lock a process holds on a run's idempotency key for as long as it works the
 * run. A process that dies takes its session, and so the lock, with it: a RUNNING run whose key's lock is
 * free is one nobody is working any more (run.service resumes it). Try-only: a live holder is never waited for.
 */
export async function tryLockRunKey(client: pg.PoolClient, sourceId: string, key: string): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>(
    `SELECT pg_try_advisory_lock(hashtextextended('reconciliation-run:' || $1::text || ':' || $2::text, 0)) AS locked`,
    [sourceId, key],
  );
  return rows[0]!.locked;
}

export async function unlockRunKey(client: pg.PoolClient, sourceId: string, key: string): Promise<void> {
  await client.query(
    `SELECT pg_advisory_unlock(hashtextextended('reconciliation-run:' || $1::text || ':' || $2::text, 0))`,
    [sourceId, key],
  );
}

/** The run holding an idempotency key of a source, if any. */
export async function selectRunByKey(
  reader: Reader,
  source: { rootLedgerId: string; id: string },
  key: string,
): Promise<RunRow | null> {
  const { rows } = await reader.query(
    `SELECT ${RUN_COLUMNS} FROM reconciliation_runs r WHERE r.root_ledger_id = $1 AND r.source_id = $2 AND r.idempotency_key = $3`,
    [source.rootLedgerId, source.id, key],
  );
  return rows[0] === undefined ? null : toRun(rows[0]);
}

export async function selectRun(reader: Reader, rootLedgerId: string, id: string): Promise<RunRow | null> {
  const { rows } = await reader.query(
    `SELECT ${RUN_COLUMNS} FROM reconciliation_runs r WHERE r.root_ledger_id = $1 AND r.id = $2`,
    [rootLedgerId, id],
  );
  return rows[0] === undefined ? null : toRun(rows[0]);
}

export async function selectRuns(reader: Reader, rootLedgerId: string, ids: readonly string[]): Promise<RunRow[]> {
  const { rows } = await reader.query(
    `SELECT ${RUN_COLUMNS} FROM reconciliation_runs r WHERE r.root_ledger_id = $1 AND r.id = ANY ($2::uuid[])`,
    [rootLedgerId, ids],
  );
  return rows.map(toRun);
}

/** A source's runs, newest first, one more than the page. */
export async function selectRunPage(
  reader: Reader,
  source: { rootLedgerId: string; id: string },
  page: Page,
): Promise<RunRow[]> {
  const { rows } = await reader.query(
    `SELECT ${RUN_COLUMNS} FROM reconciliation_runs r
      WHERE r.root_ledger_id = $1 AND r.source_id = $2 AND ($3::uuid IS NULL OR r.id < $3)
      ORDER BY r.id DESC LIMIT $4`,
    [source.rootLedgerId, source.id, page.after, page.size + 1],
  );
  return rows.map(toRun);
}

/**
 * The record side of a run: current records of the source that occurred in [from, to] and were not excluded,
 * each with its match if it has one. The source's matches are copied aside first (rr_prior, read by the
 * (root, source) prefix of their key) and analyzed, so the records join them by hash whatever the tables'
 * statistics say: probing reconciliation_matches once per record cost 0.3 to 0.9 s of a 100,000-record
 * run, and a join planned from statistics older than the tree estimated one match in all and rescanned
 * every match of the tree for every record (a 1,000,000-record run never finished).
 */
export async function insertRunRecords(
  client: pg.PoolClient,
  source: { rootLedgerId: string; id: string },
  from: Date,
  to: Date,
): Promise<void> {
  await client.query(
    `CREATE TEMP TABLE rr_prior (record_id uuid NOT NULL, transaction_id uuid NOT NULL, rule_id uuid) ON COMMIT DROP`,
  );
  await client.query(
    `INSERT INTO rr_prior SELECT m.record_id, m.transaction_id, m.rule_id FROM reconciliation_matches m
      WHERE m.root_ledger_id = $1 AND m.source_id = $2`,
    [source.rootLedgerId, source.id],
  );
  await client.query('SET LOCAL default_statistics_target = 10; ANALYZE rr_prior');
  await client.query(
    `INSERT INTO rr_records (record_id, external_id, asset_id, amount, occurred_at, reference, account_code, in_window,
                             matched_transaction_id, matched_rule_id)
     SELECT r.id, r.external_id, r.asset_id, CASE WHEN r.direction = 'CREDIT' THEN r.amount ELSE -r.amount END,
            r.occurred_at, r.reference, r.account_code, true, m.transaction_id, m.rule_id
       FROM reconciliation_records r
       LEFT JOIN rr_prior m ON m.record_id = r.id
      WHERE r.root_ledger_id = $1 AND r.source_id = $2 AND r.is_current AND r.occurred_at BETWEEN $3 AND $4
        AND r.status <> 'EXCLUDED'`,
    [source.rootLedgerId, source.id, from, to],
  );
}

/** Transactions already matched to records of the run whose lines the window read did not bring in. */
export async function selectMatchedOutsideLines(client: pg.PoolClient): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>(
    `SELECT DISTINCT r.matched_transaction_id AS id FROM rr_records r
      WHERE r.matched_transaction_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM rr_lines l WHERE l.transaction_id = r.matched_transaction_id)`,
  );
  return rows.map((row) => row.id);
}

/**
 * Records matched before this run (by an earlier COMMIT run, the continuous matcher or a person) are
 * reported as matched again, with the line of their transaction closest to them: a COMMIT run after a
 * COMMIT run finds the same pairs and adds none.
 */
export async function insertPreviousMatches(client: pg.PoolClient): Promise<void> {
  await client.query(
    `INSERT INTO rr_pairs (record_id, transaction_id, account_id, asset_id, rule_id, record_amount, ledger_amount, kind, previous)
     SELECT r.record_id, r.matched_transaction_id, l.account_id, r.asset_id, r.matched_rule_id, r.amount, l.amount, 'MATCH', true
       FROM rr_records r
       LEFT JOIN LATERAL (
         SELECT l.account_id, l.amount FROM rr_lines l
          WHERE l.transaction_id = r.matched_transaction_id AND l.asset_id = r.asset_id
          ORDER BY (l.account_code IS DISTINCT FROM r.account_code), abs(l.amount - r.amount), l.account_id
          LIMIT 1) l ON true
      WHERE r.matched_transaction_id IS NOT NULL`,
  );
}

/**
 * Writes what the run found: its matched pairs (reconciliation_run_matches), its exceptions, and its
 * summary; for COMMIT also the new matches themselves (a record's MATCHED status is read from them). The new matches are
 * inserted ON CONFLICT DO NOTHING against the exclusive keys, and their count is returned with the
 * number that was wanted: a difference means another writer matched one of them first, which the
 * source's lock rules out, so the caller fails the run rather than report a match that is not there.
 */
export async function writeRunOutcome(
  client: pg.PoolClient,
  run: { id: string; rootLedgerId: string; sourceId: string; mode: RunMode },
  exceptionIds: () => string,
): Promise<{ summary: RunSummary; wanted: number; inserted: number }> {
  await client.query(
    `INSERT INTO reconciliation_run_matches (root_ledger_id, run_id, record_id, transaction_id, rule_id, record_amount, ledger_amount)
     SELECT $1, $2, p.record_id, p.transaction_id, p.rule_id, p.record_amount, coalesce(p.ledger_amount, 0)
       FROM rr_pairs p WHERE p.kind = 'MATCH'
      -- In key order, so the primary key (root, run, record) fills its pages one after another.
      ORDER BY p.record_id`,
    [run.rootLedgerId, run.id],
  );
  // Exceptions are keyset-paged by id in the report's order (records' by external id, then the ledger's
  // by transaction): the ids are one application-made UUIDv7 with its last 48 bits replaced by the row's
  // number (reconciliation_exception_id), so they are ordered without a round trip per row.
  await client.query(
    `INSERT INTO reconciliation_exceptions (id, root_ledger_id, run_id, source_id, kind, record_id, transaction_id, account_id,
                                            asset_id, expected_amount, ledger_amount, difference)
     SELECT reconciliation_exception_id($4::uuid, (row_number() OVER (ORDER BY x.sort_group, x.sort_key, x.tiebreak))::int8),
            $1, $2, $3, x.kind, x.record_id, x.transaction_id, x.account_id, x.asset_id, x.expected, x.ledger,
            coalesce(x.expected, 0) - coalesce(x.ledger, 0)
       FROM (
         SELECT 1 AS sort_group, r.external_id AS sort_key, r.record_id::text AS tiebreak, p.kind, r.record_id,
                p.transaction_id, p.account_id, r.asset_id, r.amount AS expected, p.ledger_amount AS ledger
           FROM rr_records r JOIN rr_pairs p ON p.record_id = r.record_id
          WHERE p.kind <> 'MATCH'
         UNION ALL
         SELECT 1, r.external_id, r.record_id::text, 'MISSING_IN_LEDGER', r.record_id, NULL, NULL, r.asset_id, r.amount, NULL
           FROM rr_records r
          WHERE NOT EXISTS (SELECT 1 FROM rr_pairs p WHERE p.record_id = r.record_id)
         UNION ALL
         SELECT 2, l.transaction_id::text, l.account_id::text, 'MISSING_EXTERNALLY', NULL, l.transaction_id, l.account_id,
                l.asset_id, NULL, l.amount
           FROM (SELECT DISTINCT ON (l.transaction_id) l.* FROM rr_lines l
                  WHERE l.in_window AND l.open
                    AND NOT EXISTS (SELECT 1 FROM rr_pairs p WHERE p.transaction_id = l.transaction_id)
                  ORDER BY l.transaction_id, abs(l.amount) DESC, l.account_id) l
       ) x`,
    [run.rootLedgerId, run.id, run.sourceId, exceptionIds()],
  );
  let wanted = 0;
  let inserted = 0;
  if (run.mode === 'COMMIT') {
    const result = await client.query<{ wanted: string; inserted: string }>(
      `WITH wanted AS (
         SELECT p.record_id, p.transaction_id, p.rule_id FROM rr_pairs p WHERE p.kind = 'MATCH' AND NOT p.previous
       ), inserted AS (
         INSERT INTO reconciliation_matches (root_ledger_id, source_id, transaction_id, record_id, run_id, matched_by, rule_id)
         SELECT $1, $3, w.transaction_id, w.record_id, $2, 'RULE', w.rule_id FROM wanted w
         -- In the primary key's order (root, source, transaction): its pages fill one after another, and
         -- the references check probes transactions in their key order too.
         ORDER BY w.transaction_id
         ON CONFLICT DO NOTHING
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM wanted) AS wanted, (SELECT count(*) FROM inserted) AS inserted`,
      [run.rootLedgerId, run.id, run.sourceId],
    );
    wanted = Number(result.rows[0]!.wanted);
    inserted = Number(result.rows[0]!.inserted);
  }
  const { rows } = await client.query(
    `SELECT (SELECT count(*) FROM rr_records)::int AS external_records,
            (SELECT count(DISTINCT t) FROM (
               SELECT l.transaction_id AS t FROM rr_lines l WHERE l.in_window AND l.open
               UNION ALL
               SELECT p.transaction_id FROM rr_pairs p WHERE p.transaction_id IS NOT NULL AND p.kind <> 'AMBIGUOUS') s)::int
              AS ledger_transactions,
            count(*) FILTER (WHERE p.kind = 'MATCH')::int AS matched,
            count(*) FILTER (WHERE p.kind = 'AMOUNT_MISMATCH')::int AS amount_mismatch,
            count(*) FILTER (WHERE p.kind = 'DUPLICATE_EXTERNAL')::int AS duplicates,
            count(*) FILTER (WHERE p.kind = 'AMBIGUOUS')::int AS ambiguous,
            (SELECT count(*) FROM reconciliation_exceptions x
              WHERE x.root_ledger_id = $1 AND x.run_id = $2 AND x.kind = 'MISSING_IN_LEDGER')::int AS missing_in_ledger,
            (SELECT count(*) FROM reconciliation_exceptions x
              WHERE x.root_ledger_id = $1 AND x.run_id = $2 AND x.kind = 'MISSING_EXTERNALLY')::int AS missing_externally
       FROM rr_pairs p`,
    [run.rootLedgerId, run.id],
  );
  const row = rows[0]!;
  return {
    wanted,
    inserted,
    summary: {
      externalRecords: row.external_records,
      ledgerTransactions: row.ledger_transactions,
      matched: row.matched,
      missingInLedger: row.missing_in_ledger,
      missingExternally: row.missing_externally,
      amountMismatch: row.amount_mismatch,
      duplicates: row.duplicates,
      ambiguous: row.ambiguous,
    },
  };
}

export async function finishRun(
  reader: Reader,
  run: { rootLedgerId: string; id: string },
  outcome:
    | { status: 'COMPLETED'; summary: RunSummary; journalHighWater: string; rulesVersion: number; ruleIds: string[] }
    | { status: 'FAILED'; error: string },
): Promise<RunRow> {
  const summary = outcome.status === 'COMPLETED' ? outcome.summary : null;
  const completed = outcome.status === 'COMPLETED' ? outcome : null;
  const { rows } = await reader.query(
    `UPDATE reconciliation_runs r
        SET status = $3, finished_at = now(), error = $4, journal_high_water = coalesce($5, r.journal_high_water),
            external_records = coalesce($6, r.external_records), ledger_transactions = coalesce($7, r.ledger_transactions),
            matched = coalesce($8, r.matched), missing_in_ledger = coalesce($9, r.missing_in_ledger),
            missing_externally = coalesce($10, r.missing_externally), amount_mismatch = coalesce($11, r.amount_mismatch),
            duplicates = coalesce($12, r.duplicates), ambiguous = coalesce($13, r.ambiguous),
            rules_version = coalesce($14, r.rules_version), rule_ids = coalesce($15::uuid[], r.rule_ids)
      WHERE r.root_ledger_id = $1 AND r.id = $2
      RETURNING ${RUN_COLUMNS}`,
    [
      run.rootLedgerId,
      run.id,
      outcome.status,
      outcome.status === 'FAILED' ? outcome.error : null,
      outcome.status === 'COMPLETED' ? outcome.journalHighWater : null,
      summary?.externalRecords ?? null,
      summary?.ledgerTransactions ?? null,
      summary?.matched ?? null,
      summary?.missingInLedger ?? null,
      summary?.missingExternally ?? null,
      summary?.amountMismatch ?? null,
      summary?.duplicates ?? null,
      summary?.ambiguous ?? null,
      completed?.rulesVersion ?? null,
      completed?.ruleIds ?? null,
    ],
  );
  return toRun(rows[0]);
}

const EXCEPTION_COLUMNS = `x.id, x.root_ledger_id, x.run_id, x.source_id, x.kind, x.status, x.record_id, x.transaction_id,
  x.account_id, x.asset_id, x.expected_amount::text AS expected_amount, x.ledger_amount::text AS ledger_amount,
  x.difference::text AS difference, x.resolution, x.note, x.resolution_key, x.resolution_transaction_id, x.resolved_by,
  x.resolved_at, x.created_at`;

const big = (value: string | null) => (value === null ? null : BigInt(value));

export function toException(row: RawRow): ExceptionRow {
  return {
    id: row.id,
    rootLedgerId: row.root_ledger_id,
    runId: row.run_id,
    sourceId: row.source_id,
    kind: row.kind,
    status: row.status,
    recordId: row.record_id,
    transactionId: row.transaction_id,
    accountId: row.account_id,
    assetId: row.asset_id,
    expectedAmount: big(row.expected_amount),
    ledgerAmount: big(row.ledger_amount),
    difference: big(row.difference),
    resolution: row.resolution,
    note: row.note,
    resolutionKey: row.resolution_key,
    resolutionTransactionId: row.resolution_transaction_id,
    resolvedBy: row.resolved_by,
    resolvedAt: row.resolved_at,
    createdAt: row.created_at,
  };
}

/** A run's exceptions in report order (their ids), one more than the page. */
export async function selectExceptionPage(
  reader: Reader,
  run: { rootLedgerId: string; id: string },
  filter: { kind: ExceptionKind | null; status: ExceptionStatus | null },
  page: Page,
): Promise<ExceptionRow[]> {
  const { rows } = await reader.query(
    `SELECT ${EXCEPTION_COLUMNS} FROM reconciliation_exceptions x
      WHERE x.root_ledger_id = $1 AND x.run_id = $2 AND ($3::uuid IS NULL OR x.id > $3)
        AND ($4::text IS NULL OR x.kind = $4) AND ($5::text IS NULL OR x.status = $5)
      ORDER BY x.id LIMIT $6`,
    [run.rootLedgerId, run.id, page.after, filter.kind, filter.status, page.size + 1],
  );
  return rows.map(toException);
}

export async function selectException(reader: Reader, rootLedgerId: string, id: string): Promise<ExceptionRow | null> {
  const { rows } = await reader.query(
    `SELECT ${EXCEPTION_COLUMNS} FROM reconciliation_exceptions x WHERE x.root_ledger_id = $1 AND x.id = $2`,
    [rootLedgerId, id],
  );
  return rows[0] === undefined ? null : toException(rows[0]);
}

export async function lockException(
  client: pg.PoolClient,
  rootLedgerId: string,
  id: string,
): Promise<ExceptionRow | null> {
  const { rows } = await client.query(
    `SELECT ${EXCEPTION_COLUMNS} FROM reconciliation_exceptions x WHERE x.root_ledger_id = $1 AND x.id = $2 FOR UPDATE`,
    [rootLedgerId, id],
  );
  return rows[0] === undefined ? null : toException(rows[0]);
}
