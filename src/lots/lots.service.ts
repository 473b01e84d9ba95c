import type { Database } from '../platform/db.js';
import { BadInputError } from '../platform/errors.js';
import { groupByExpiry } from './lots.core.js';
import { ExpiringAmount, Lot } from './lot.types.js';
import { listLots, lotsLapsingBy, type LotRow } from './lots.repository.js';

/** Most lots `Account.lots` returns, soonest expiry first. */
export const LOTS_LIST_MAX = 500;
export const EXPIRING_WITHIN_DAYS_MAX = 3650;

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
    return (await listLots(this.db.pool, account, assetId, includeClosed, LOTS_LIST_MAX)).map(toLot);
  }

  async expiring(account: { rootLedgerId: string; id: string }, assetId: string, withinDays: number, now: Date = new Date()): Promise<ExpiringAmount[]> {
    if (!Number.isInteger(withinDays) || withinDays < 0 || withinDays > EXPIRING_WITHIN_DAYS_MAX) {
      throw new BadInputError(`withinDays must be an integer from 0 to ${EXPIRING_WITHIN_DAYS_MAX}`);
    }
    const until = new Date(now.getTime() + withinDays * 86_400_000);
    return groupByExpiry(await lotsLapsingBy(this.db.pool, account, assetId, until), until).map((group) => Object.assign(new ExpiringAmount(), group));
  }
}
