import type { Database } from '../platform/db.js';
import { BadInputError } from '../platform/errors.js';
import { groupByExpiry } from './lots.core.js';
import { ExpiringAmount, Lot } from './lot.types.js';

/** Most lots `Account.lots` returns, soonest expiry first. */
export const LOTS_LIST_MAX = 500;
export const EXPIRING_WITHIN_DAYS_MAX = 3650;

type LotRow = { id: string; root_ledger_id: string; asset_id: string; source_transaction_id: string; amount: string; remaining: string; expires_at: Date | null; created_at: Date };

function toLot(row: LotRow): Lot {
  return Object.assign(new Lot(), {
    id: row.id,
    rootLedgerId: row.root_ledger_id,
    assetId: row.asset_id,
    sourceTransactionId: row.source_transaction_id,
    amount: BigInt(row.amount),
    remaining: BigInt(row.remaining),
    expiresAt: row.expires_at,
    createdAt: row.created_at,
  });
}

export class LotService {
  constructor(private readonly db: Database) {}

  /** Open lots (or all, with includeClosed), soonest expiry first and never-expiring last. */
  async list(account: { rootLedgerId: string; id: string }, assetId: string | null, includeClosed: boolean): Promise<Lot[]> {
    const { rows } = await this.db.pool.query<LotRow>(
      `SELECT id, root_ledger_id, asset_id, source_transaction_id, amount, remaining, expires_at, created_at
         FROM lots
        WHERE account_id = $2 AND root_ledger_id = $1 AND ($3::uuid IS NULL OR asset_id = $3) AND ($4 OR remaining > 0)
        ORDER BY expires_at ASC NULLS LAST, id
        LIMIT $5`,
      [account.rootLedgerId, account.id, assetId, includeClosed, LOTS_LIST_MAX],
    );
    return rows.map(toLot);
  }

  async expiring(account: { rootLedgerId: string; id: string }, assetId: string, withinDays: number, now: Date = new Date()): Promise<ExpiringAmount[]> {
    if (!Number.isInteger(withinDays) || withinDays < 0 || withinDays > EXPIRING_WITHIN_DAYS_MAX) {
      throw new BadInputError(`withinDays must be an integer from 0 to ${EXPIRING_WITHIN_DAYS_MAX}`);
    }
    const until = new Date(now.getTime() + withinDays * 86_400_000);
    const { rows } = await this.db.pool.query<{ id: string; remaining: string; expires_at: Date }>(
      `SELECT id, remaining, expires_at FROM lots
        WHERE account_id = $2 AND asset_id = $3 AND root_ledger_id = $1 AND remaining > 0 AND expires_at <= $4
        ORDER BY expires_at`,
      [account.rootLedgerId, account.id, assetId, until],
    );
    return groupByExpiry(rows.map((row) => ({ id: row.id, remaining: BigInt(row.remaining), expiresAt: row.expires_at })), until).map((group) =>
      Object.assign(new ExpiringAmount(), group),
    );
  }
}
