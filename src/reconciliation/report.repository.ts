import type pg from 'pg';

/** SQL of the CSV report: a run's matched pairs and its exceptions, a page at a time in report order. */

export interface ReportLine {
  row: 'MATCH' | 'EXCEPTION';
  kind: string | null;
  status: string | null;
  externalId: string | null;
  recordId: string | null;
  transactionId: string | null;
  reference: string | null;
  accountCode: string | null;
  asset: string | null;
  expectedAmount: bigint | null;
  ledgerAmount: bigint | null;
  difference: bigint | null;
  resolution: string | null;
  note: string | null;
  exceptionId: string | null;
  /** The keyset position of the line within its part. */
  position: string;
}

const big = (value: string | null) => (value === null ? null : BigInt(value));

interface RawLine {
  kind: string | null;
  status: string | null;
  external_id: string | null;
  record_id: string | null;
  transaction_id: string | null;
  reference: string | null;
  account_code: string | null;
  asset: string | null;
  expected_amount: string | null;
  ledger_amount: string | null;
  difference: string | null;
  resolution: string | null;
  note: string | null;
  exception_id: string | null;
  position: string;
}

function toLine(row: 'MATCH' | 'EXCEPTION', raw: RawLine): ReportLine {
  return {
    row,
    kind: raw.kind,
    status: raw.status,
    externalId: raw.external_id,
    recordId: raw.record_id,
    transactionId: raw.transaction_id,
    reference: raw.reference,
    accountCode: raw.account_code,
    asset: raw.asset,
    expectedAmount: big(raw.expected_amount),
    ledgerAmount: big(raw.ledger_amount),
    difference: big(raw.difference),
    resolution: raw.resolution,
    note: raw.note,
    exceptionId: raw.exception_id,
    position: raw.position,
  };
}

/** Matched pairs of a run after a record id, by record id. */
export async function selectMatchLines(
  reader: pg.Pool,
  run: { rootLedgerId: string; id: string },
  after: string | null,
  limit: number,
): Promise<ReportLine[]> {
  const { rows } = await reader.query<RawLine>(
    `SELECT NULL AS kind, NULL AS status, r.external_id, m.record_id, m.transaction_id, r.reference, r.account_code,
            s.code AS asset, m.record_amount::text AS expected_amount, m.ledger_amount::text AS ledger_amount,
            (m.record_amount - m.ledger_amount)::text AS difference, NULL AS resolution, NULL AS note,
            NULL AS exception_id, m.record_id::text AS position
       FROM reconciliation_run_matches m
       JOIN reconciliation_records r ON r.root_ledger_id = m.root_ledger_id AND r.id = m.record_id
       LEFT JOIN assets s ON s.root_ledger_id = r.root_ledger_id AND s.id = r.asset_id
      WHERE m.root_ledger_id = $1 AND m.run_id = $2 AND ($3::uuid IS NULL OR m.record_id > $3)
      ORDER BY m.record_id LIMIT $4`,
    [run.rootLedgerId, run.id, after, limit],
  );
  return rows.map((row) => toLine('MATCH', row));
}

/** Exceptions of a run after an exception id, in report order. */
export async function selectExceptionLines(
  reader: pg.Pool,
  run: { rootLedgerId: string; id: string },
  after: string | null,
  limit: number,
): Promise<ReportLine[]> {
  const { rows } = await reader.query<RawLine>(
    `SELECT x.kind, x.status, r.external_id, x.record_id, x.transaction_id, coalesce(r.reference, t.idempotency_key) AS reference,
            coalesce(a.code, r.account_code) AS account_code, s.code AS asset, x.expected_amount::text AS expected_amount,
            x.ledger_amount::text AS ledger_amount, x.difference::text AS difference, x.resolution, x.note,
            x.id AS exception_id, x.id::text AS position
       FROM reconciliation_exceptions x
       LEFT JOIN reconciliation_records r ON r.root_ledger_id = x.root_ledger_id AND r.id = x.record_id
       LEFT JOIN transactions t ON t.root_ledger_id = x.root_ledger_id AND t.id = x.transaction_id
       LEFT JOIN accounts a ON a.root_ledger_id = x.root_ledger_id AND a.id = x.account_id
       LEFT JOIN assets s ON s.root_ledger_id = x.root_ledger_id AND s.id = x.asset_id
      WHERE x.root_ledger_id = $1 AND x.run_id = $2 AND ($3::uuid IS NULL OR x.id > $3)
      ORDER BY x.id LIMIT $4`,
    [run.rootLedgerId, run.id, after, limit],
  );
  return rows.map((row) => toLine('EXCEPTION', row));
}
