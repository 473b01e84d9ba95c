import type pg from 'pg';

/** Reads of external records, raw through pg (the import writes them: import.repository.ts). */
type Reader = pg.Pool | pg.PoolClient;

export interface RecordRow {
  id: string;
  rootLedgerId: string;
  sourceId: string;
  externalId: string;
  version: number;
  isCurrent: boolean;
  assetId: string;
  amount: bigint;
  direction: 'DEBIT' | 'CREDIT';
  occurredAt: Date;
  reference: string | null;
  accountCode: string | null;
  metadata: Record<string, unknown>;
  status: 'UNMATCHED' | 'MATCHED' | 'EXCLUDED';
  importId: string | null;
  createdAt: Date;
}

interface RawRecord {
  id: string;
  root_ledger_id: string;
  source_id: string;
  external_id: string;
  version: number;
  is_current: boolean;
  asset_id: string;
  amount: string;
  direction: 'DEBIT' | 'CREDIT';
  occurred_at: Date;
  reference: string | null;
  account_code: string | null;
  metadata: Record<string, unknown>;
  status: 'UNMATCHED' | 'MATCHED' | 'EXCLUDED';
  import_id: string | null;
  created_at: Date;
}

/**
 * A record's status is derived: MATCHED if and only if a match names it (reconciliation_matches, one per
 * record), else the stored status, which only a resolution changes (EXCLUDED). Matching writes no record.
 */
const STATUS = `CASE WHEN EXISTS (SELECT 1 FROM reconciliation_matches m
                            WHERE m.root_ledger_id = r.root_ledger_id AND m.record_id = r.id) THEN 'MATCHED'
       WHEN r.status = 'EXCLUDED' THEN 'EXCLUDED' ELSE 'UNMATCHED' END`;

const RECORD_COLUMNS = `r.id, r.root_ledger_id, r.source_id, r.external_id, r.version, r.is_current, r.asset_id,
  r.amount::text AS amount, r.direction, r.occurred_at, r.reference, r.account_code, r.metadata, ${STATUS} AS status,
  r.import_id, r.created_at`;

function toRecord(row: RawRecord): RecordRow {
  return {
    id: row.id,
    rootLedgerId: row.root_ledger_id,
    sourceId: row.source_id,
    externalId: row.external_id,
    version: row.version,
    isCurrent: row.is_current,
    assetId: row.asset_id,
    amount: BigInt(row.amount),
    direction: row.direction,
    occurredAt: row.occurred_at,
    reference: row.reference,
    accountCode: row.account_code,
    metadata: row.metadata,
    status: row.status,
    importId: row.import_id,
    createdAt: row.created_at,
  };
}

export interface RecordFilter {
  status: RecordRow['status'] | null;
  /** One external id: every version of it, oldest first. Otherwise the current versions only. */
  externalId: string | null;
}

export async function selectRecordPage(
  reader: Reader,
  rootLedgerId: string,
  sourceId: string,
  filter: RecordFilter,
  after: string | null,
  size: number,
): Promise<RecordRow[]> {
  const { rows } = await reader.query<RawRecord>(
    `SELECT ${RECORD_COLUMNS}
       FROM reconciliation_records r
      WHERE r.root_ledger_id = $1 AND r.source_id = $2
        AND (CASE WHEN $4::text IS NULL THEN r.is_current ELSE r.external_id = $4::text END)
        AND ($3::text IS NULL OR ${STATUS} = $3::text)
        AND ($5::uuid IS NULL OR r.id > $5::uuid)
      ORDER BY r.id
      LIMIT $6`,
    [rootLedgerId, sourceId, filter.status, filter.externalId, after, size + 1],
  );
  return rows.map(toRecord);
}

/** The transaction each record is matched to, if any (reconciliation_matches, one per record). */
export async function selectMatchedTransactions(
  reader: Reader,
  rootLedgerId: string,
  recordIds: readonly string[],
): Promise<Array<{ recordId: string; transactionId: string }>> {
  const { rows } = await reader.query<{ record_id: string; transaction_id: string }>({
    name: 'reconciliation_matched_transactions',
    text: `SELECT m.record_id, m.transaction_id FROM reconciliation_matches m
            JOIN reconciliation_records r ON r.root_ledger_id = m.root_ledger_id AND r.id = m.record_id
           WHERE m.root_ledger_id = $1 AND r.id = ANY($2::uuid[])`,
    values: [rootLedgerId, recordIds],
  });
  return rows.map((row) => ({ recordId: row.record_id, transactionId: row.transaction_id }));
}

/** Records by id, any version (a run's exceptions name the version they saw). */
export async function selectRecordsByIds(
  reader: Reader,
  rootLedgerId: string,
  ids: readonly string[],
): Promise<RecordRow[]> {
  const { rows } = await reader.query<RawRecord>(
    `SELECT ${RECORD_COLUMNS} FROM reconciliation_records r WHERE r.root_ledger_id = $1 AND r.id = ANY ($2::uuid[])`,
    [rootLedgerId, ids],
  );
  return rows.map(toRecord);
}
