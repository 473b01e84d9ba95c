import type pg from 'pg';
import type { Rejection, ValidRecord } from './record.core.js';

/**
 * The SQL of an import, raw through pg, all on the import's one transaction client. Records are staged
 * in a temporary table (no indexes, no WAL; dropped at commit) by multi-row `unnest` inserts of a few
 * thousand rows each, and merged into reconciliation_records by a handful of set-based statements once
 * the body has ended: one join against the current versions classifies every row, one UPDATE moves
 * `is_current` off the changed ones, one INSERT writes the new versions. Nothing here runs per row.
 */
type Reader = pg.Pool | pg.PoolClient;

export interface ImportRow {
  id: string;
  rootLedgerId: string;
  sourceId: string;
  idempotencyKey: string;
  requestHash: string;
  inserted: number;
  updated: number;
  unchanged: number;
  rejectedCount: number;
  rejections: Rejection[];
  createdAt: Date;
}

interface RawImport {
  id: string;
  root_ledger_id: string;
  source_id: string;
  idempotency_key: string;
  request_hash: string;
  inserted: number;
  updated: number;
  unchanged: number;
  rejected_count: number;
  rejections: Rejection[];
  created_at: Date;
}

function toImport(row: RawImport): ImportRow {
  return {
    id: row.id,
    rootLedgerId: row.root_ledger_id,
    sourceId: row.source_id,
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    inserted: row.inserted,
    updated: row.updated,
    unchanged: row.unchanged,
    rejectedCount: row.rejected_count,
    rejections: row.rejections,
    createdAt: row.created_at,
  };
}

export async function selectImport(
  reader: Reader,
  rootLedgerId: string,
  sourceId: string,
  idempotencyKey: string,
): Promise<ImportRow | null> {
  const { rows } = await reader.query<RawImport>(
    `SELECT id, root_ledger_id, source_id, idempotency_key, request_hash, inserted, updated, unchanged,
            rejected_count, rejections, created_at
       FROM reconciliation_imports
      WHERE root_ledger_id = $1 AND source_id = $2 AND idempotency_key = $3`,
    [rootLedgerId, sourceId, idempotencyKey],
  );
  return rows[0] === undefined ? null : toImport(rows[0]);
}

export async function insertImport(client: pg.PoolClient, row: Omit<ImportRow, 'createdAt'>): Promise<void> {
  await client.query(
    `INSERT INTO reconciliation_imports (id, root_ledger_id, source_id, idempotency_key, request_hash, inserted,
                                         updated, unchanged, rejected_count, rejections)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)`,
    [
      row.id,
      row.rootLedgerId,
      row.sourceId,
      row.idempotencyKey,
      row.requestHash,
      row.inserted,
      row.updated,
      row.unchanged,
      row.rejectedCount,
      JSON.stringify(row.rejections),
    ],
  );
}

/** The staging table of this transaction's import; ON COMMIT DROP, and a rollback undoes its creation. */
export async function createStaging(client: pg.PoolClient): Promise<void> {
  await client.query(
    `CREATE TEMPORARY TABLE reconciliation_import_staging (
       line         INTEGER NOT NULL,
       id           UUID NOT NULL,
       external_id  TEXT NOT NULL,
       asset_id     UUID NOT NULL,
       amount       BIGINT NOT NULL,
       direction    "Direction" NOT NULL,
       occurred_at  TIMESTAMPTZ(3) NOT NULL,
       reference    TEXT,
       account_code TEXT,
       metadata     JSONB NOT NULL,
       content_hash BYTEA NOT NULL
     ) ON COMMIT DROP`,
  );
}

/**
 * Stages one chunk of valid records in one statement. The content hash is computed here, from a JSON
 * array of the content (jsonb puts metadata keys in one order; the instant as epoch milliseconds, so the
 * session's time zone cannot change it).
 */
export async function stageRecords(
  client: pg.PoolClient,
  records: readonly ValidRecord[],
  ids: string[],
): Promise<void> {
  const n = records.length;
  const lines = new Array<number>(n);
  const externalIds = new Array<string>(n);
  const assetIds = new Array<string>(n);
  const amounts = new Array<string>(n);
  const directions = new Array<string>(n);
  const occurred = new Array<string>(n);
  const references = new Array<string | null>(n);
  const accountCodes = new Array<string | null>(n);
  const metadata = new Array<string>(n);
  for (let i = 0; i < n; i += 1) {
    const record = records[i]!;
    lines[i] = record.line;
    externalIds[i] = record.externalId;
    assetIds[i] = record.assetId;
    amounts[i] = record.amount.toString();
    directions[i] = record.direction;
    occurred[i] = record.occurredAt.toISOString();
    references[i] = record.reference;
    accountCodes[i] = record.accountCode;
    metadata[i] = record.metadata;
  }
  await client.query({
    name: 'reconciliation_stage_records',
    text: `INSERT INTO reconciliation_import_staging
           SELECT u.line, u.id, u.external_id, u.asset_id, u.amount, u.direction, u.occurred_at, u.reference,
                  u.account_code, u.metadata,
                  sha256(convert_to(jsonb_build_array(u.asset_id, u.amount::text, u.direction,
                    (extract(epoch FROM u.occurred_at::timestamptz(3)) * 1000)::bigint,
                    u.reference, u.account_code, u.metadata)::text, 'UTF8'))
             FROM unnest($1::int[], $2::uuid[], $3::text[], $4::uuid[], $5::int8[], $6::"Direction"[],
                         $7::timestamptz[], $8::text[], $9::text[], $10::jsonb[])
                  AS u(line, id, external_id, asset_id, amount, direction, occurred_at, reference, account_code, metadata)`,
    values: [lines, ids, externalIds, assetIds, amounts, directions, occurred, references, accountCodes, metadata],
  });
}

export interface MergeOutcome {
  inserted: number;
  updated: number;
  unchanged: number;
  /** Rows whose externalId came earlier in the same import: the first kept, by line. */
  duplicates: Rejection[];
  duplicateCount: number;
}

/**
 * Merges the staged records into the source's records, the source row already locked by the caller.
 * A second row of one externalId in the same import is a rejection (a body states each record once).
 */
export async function mergeStaged(
  client: pg.PoolClient,
  rootLedgerId: string,
  sourceId: string,
  importId: string,
  duplicatesKept: number,
): Promise<MergeOutcome> {
  // Temporary tables have no statistics until analysed; without them the planner guesses the join.
  await client.query('ANALYZE reconciliation_import_staging');
  await client.query(
    `CREATE TEMPORARY TABLE reconciliation_import_classified ON COMMIT DROP AS
     SELECT s.*, r.id AS old_id, r.version AS old_version,
            coalesce(r.content_hash = s.content_hash, false) AS same,
            row_number() OVER (PARTITION BY s.external_id ORDER BY s.line) AS nth
       FROM reconciliation_import_staging s
       LEFT JOIN reconciliation_records r
         ON r.root_ledger_id = $1 AND r.source_id = $2 AND r.external_id = s.external_id AND r.is_current`,
    [rootLedgerId, sourceId],
  );
  const counts = await client.query<{ inserted: number; updated: number; unchanged: number; duplicates: number }>(
    `SELECT count(*) FILTER (WHERE nth = 1 AND old_id IS NULL)::int AS inserted,
            count(*) FILTER (WHERE nth = 1 AND old_id IS NOT NULL AND NOT same)::int AS updated,
            count(*) FILTER (WHERE nth = 1 AND same)::int AS unchanged,
            count(*) FILTER (WHERE nth > 1)::int AS duplicates
       FROM reconciliation_import_classified`,
  );
  const { inserted, updated, unchanged, duplicates } = counts.rows[0]!;
  let duplicateRows: Rejection[] = [];
  if (duplicates > 0) {
    const found = await client.query<{ line: number; external_id: string; first: number }>(
      `SELECT c.line, c.external_id, f.line AS first
         FROM reconciliation_import_classified c
         JOIN reconciliation_import_classified f ON f.external_id = c.external_id AND f.nth = 1
        WHERE c.nth > 1
        ORDER BY c.line
        LIMIT $1`,
      [duplicatesKept],
    );
    duplicateRows = found.rows.map((row) => ({
      line: row.line,
      externalId: row.external_id,
      message: `externalId ${row.external_id} already appears at line ${row.first} of this import`,
    }));
  }
  if (updated > 0) {
    await client.query(
      `UPDATE reconciliation_records r SET is_current = false
         FROM reconciliation_import_classified c
        WHERE c.nth = 1 AND c.old_id IS NOT NULL AND NOT c.same AND r.root_ledger_id = $1 AND r.id = c.old_id`,
      [rootLedgerId],
    );
  }
  if (inserted + updated > 0) {
    await client.query(
      `INSERT INTO reconciliation_records (id, root_ledger_id, source_id, external_id, version, is_current, asset_id,
                                           amount, direction, occurred_at, reference, account_code, metadata,
                                           content_hash, import_id)
       SELECT c.id, $1, $2, c.external_id, coalesce(c.old_version, 0) + 1, true, c.asset_id, c.amount, c.direction,
              c.occurred_at, c.reference, c.account_code, c.metadata, c.content_hash, $3
         FROM reconciliation_import_classified c
        WHERE c.nth = 1 AND NOT c.same
        ORDER BY c.line`,
      [rootLedgerId, sourceId, importId],
    );
  }
  return { inserted, updated, unchanged, duplicates: duplicateRows, duplicateCount: duplicates };
}
