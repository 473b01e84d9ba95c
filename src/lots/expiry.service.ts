import type { Database } from '../platform/db.js';
import { newId } from '../platform/ids.js';
import type { RequestOrigin } from '../audit/audit.js';
import type { PostingEngine } from '../postings/posting-engine.js';
import type { PostingService } from '../postings/postings.service.js';
import { deriveBalance, type NormalBalance } from '../balances/balances.core.js';
import { TransactionKind } from '../transactions/transaction.types.js';
import { expirableAmount } from './lots.core.js';

/** Balances one expiry run visits at most; what is left waits for the next run. */
export const EXPIRY_BALANCES_PER_RUN = 500;

/**
 * Moves lapsed lot value to system:expiry with EXPIRE transactions. Each balance is expired in its own
 * database transaction that first locks the balance row and only then measures what has lapsed, so two
 * runs at once (on one server or several) cannot expire the same value twice, and a repeated run finds
 * nothing left. Value reserved by a pending hold is not expired until the hold is settled, and a FROZEN or
 * CLOSED account's value waits until the account is active again.
 */
export class ExpiryService {
  constructor(
    private readonly db: Database,
    private readonly engine: PostingEngine,
    private readonly postings: PostingService,
  ) {}

  /** Expires what lapsed at or before `asOf` in the ledger's subtree; returns the transactions posted. */
  async run(origin: RequestOrigin, ledger: { id: string; rootLedgerId: string }, asOf: Date): Promise<number> {
    const { rows: candidates } = await this.db.pool.query<{ account_id: string; asset_id: string; asset_code: string; ledger_id: string }>(
      `SELECT DISTINCT l.account_id, l.asset_id, s.code AS asset_code, a.ledger_id
         FROM lots l
         JOIN accounts a ON a.root_ledger_id = l.root_ledger_id AND a.id = l.account_id
         JOIN ledgers g ON g.root_ledger_id = a.root_ledger_id AND g.id = a.ledger_id
         JOIN assets s ON s.root_ledger_id = l.root_ledger_id AND s.id = l.asset_id
        WHERE l.root_ledger_id = $1 AND l.remaining > 0 AND l.expires_at <= $2 AND g.path @> ARRAY[$3::uuid]
          AND a.status = 'ACTIVE'
        LIMIT $4`,
      [ledger.rootLedgerId, asOf, ledger.id, EXPIRY_BALANCES_PER_RUN],
    );
    if (candidates.length === 0) return 0;
    const expiryAccountId = await this.postings.systemAccountId(ledger.rootLedgerId, 'system:expiry');

    let posted = 0;
    for (const candidate of candidates) {
      const result = await this.engine.postDecidedWithin(origin, async (client) => {
        const { rows } = await client.query<{ normal_balance: NormalBalance; dp: string; cp: string; dpe: string; cpe: string }>(
          `SELECT normal_balance::text AS normal_balance, debits_posted AS dp, credits_posted AS cp, debits_pending AS dpe, credits_pending AS cpe
             FROM balances WHERE root_ledger_id = $1 AND account_id = $2 AND asset_id = $3 AND shard = 0
              FOR UPDATE`,
          [ledger.rootLedgerId, candidate.account_id, candidate.asset_id],
        );
        const balance = rows[0];
        if (balance === undefined) return null;
        const { rows: lapsed } = await client.query<{ total: string }>(
          `SELECT coalesce(sum(remaining), 0)::text AS total FROM lots
            WHERE account_id = $2 AND asset_id = $3 AND root_ledger_id = $1 AND remaining > 0 AND expires_at <= $4`,
          [ledger.rootLedgerId, candidate.account_id, candidate.asset_id, asOf],
        );
        const totals = { debitsPosted: BigInt(balance.dp), creditsPosted: BigInt(balance.cp), debitsPending: BigInt(balance.dpe), creditsPending: BigInt(balance.cpe) };
        const amount = expirableAmount(BigInt(lapsed[0]!.total), deriveBalance(totals, balance.normal_balance).available);
        if (amount === 0n) return null;
        // Expiry lowers the customer's balance in its normal direction; system:expiry takes the other side.
        const customerSide = balance.normal_balance === 'CREDIT' ? 'DEBIT' : 'CREDIT';
        return {
          operation: 'runExpiry',
          rootLedgerId: ledger.rootLedgerId,
          ledgerId: candidate.ledger_id,
          kind: TransactionKind.EXPIRE,
          idempotencyKey: `expiry:${candidate.account_id}:${candidate.asset_id}:${newId()}`,
          description: `Expired ${candidate.asset_code} lapsed by ${asOf.toISOString()}`,
          metadata: { asOf: asOf.toISOString() },
          effectiveAt: null,
          entries: [
            { accountId: candidate.account_id, assetCode: candidate.asset_code, direction: customerSide, amount },
            { accountId: expiryAccountId, assetCode: candidate.asset_code, direction: customerSide === 'DEBIT' ? 'CREDIT' : 'DEBIT', amount },
          ],
          reversalOfId: null,
          pending: false,
          timeoutSeconds: null,
          lotExpiresAt: null,
          request: { operation: 'runExpiry', accountId: candidate.account_id, assetId: candidate.asset_id, asOf },
        };
      });
      if (result !== null) posted += 1;
    }
    return posted;
  }
}
