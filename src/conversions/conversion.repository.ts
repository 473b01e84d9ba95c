import type pg from 'pg';
import type { Prisma } from '../generated/prisma/client.js';

/**
 * SQL for exchange rates: a rate is created through Prisma (an administrative write, with its audit row
 * in the same transaction); the rate in force, read on every conversion, is a named prepared statement.
 */
type Reader = pg.Pool | pg.PoolClient;

export interface ExchangeRateRow {
  id: string;
  rootLedgerId: string;
  ledgerId: string;
  fromAssetId: string;
  toAssetId: string;
  numerator: bigint;
  denominator: bigint;
  validFrom: Date;
}

type RawRateRow = Omit<ExchangeRateRow, 'numerator' | 'denominator'> & { numerator: string; denominator: string };

const RATE_COLUMNS = `r.id, r.root_ledger_id AS "rootLedgerId", r.ledger_id AS "ledgerId", r.from_asset_id AS "fromAssetId",
  r.to_asset_id AS "toAssetId", r.numerator::text AS numerator, r.denominator::text AS denominator, r.valid_from AS "validFrom"`;

function toRate(row: RawRateRow): ExchangeRateRow {
  return { ...row, numerator: BigInt(row.numerator), denominator: BigInt(row.denominator) };
}

export async function insertExchangeRate(tx: Prisma.TransactionClient, row: ExchangeRateRow): Promise<ExchangeRateRow> {
  const created = await tx.exchangeRate.create({ data: row });
  return {
    id: created.id,
    rootLedgerId: created.rootLedgerId,
    ledgerId: created.ledgerId,
    fromAssetId: created.fromAssetId,
    toAssetId: created.toAssetId,
    numerator: created.numerator,
    denominator: created.denominator,
    validFrom: created.validFrom,
  };
}

/** The rate in force at `at`: the newest valid_from at or before it. */
export async function selectRateInForce(
  reader: Reader,
  rootLedgerId: string,
  fromAssetId: string,
  toAssetId: string,
  at: Date,
): Promise<ExchangeRateRow | null> {
  const { rows } = await reader.query<RawRateRow>({
    name: 'exchange_rate_in_force',
    text: `SELECT ${RATE_COLUMNS} FROM exchange_rates r
           WHERE r.root_ledger_id = $1 AND r.from_asset_id = $2 AND r.to_asset_id = $3 AND r.valid_from <= $4
           ORDER BY r.valid_from DESC LIMIT 1`,
    values: [rootLedgerId, fromAssetId, toAssetId, at],
  });
  return rows[0] ? toRate(rows[0]) : null;
}

/** A pair's rates, newest valid_from first, at most `limit`. */
export async function selectRateHistory(
  reader: Reader,
  rootLedgerId: string,
  fromAssetId: string,
  toAssetId: string,
  limit: number,
): Promise<ExchangeRateRow[]> {
  const { rows } = await reader.query<RawRateRow>({
    name: 'exchange_rate_history',
    text: `SELECT ${RATE_COLUMNS} FROM exchange_rates r
           WHERE r.root_ledger_id = $1 AND r.from_asset_id = $2 AND r.to_asset_id = $3
           ORDER BY r.valid_from DESC LIMIT $4`,
    values: [rootLedgerId, fromAssetId, toAssetId, limit],
  });
  return rows.map(toRate);
}

/**
 * Creates the root's conversion account when it has none: a root created by a server older than
 * exchange rates during a rolling upgrade, after the migration gave the roots of that moment theirs.
 */
export async function ensureConversionAccount(reader: Reader, rootLedgerId: string, id: string): Promise<void> {
  await reader.query(
    `INSERT INTO accounts (id, root_ledger_id, ledger_id, code, name, normal_balance, allow_overdraft, overdraft_limit, is_system)
     VALUES ($1, $2, $2, 'system:conversion', 'system:conversion', 'CREDIT', true, NULL, true)
     ON CONFLICT (root_ledger_id, ledger_id, code) DO NOTHING`,
    [id, rootLedgerId],
  );
}
