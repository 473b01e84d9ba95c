import type { Database } from '../platform/db.js';
import { newId } from '../platform/ids.js';
import type { RequestOrigin } from '../audit/audit.js';
import type { PostingEngine } from '../postings/posting-engine.js';
import type { PostingService } from '../postings/postings.service.js';
import { deriveBalance } from '../balances/balances.core.js';
import { TransactionKind } from '../transactions/transaction.types.js';
import { expirableAmount } from '../lots/lots.core.js';
import { expiryCandidates, lockBalanceWithLapsed } from './jobs.repository.js';

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
    const candidates = await expiryCandidates(this.db.pool, ledger, asOf, EXPIRY_BALANCES_PER_RUN);
    if (candidates.length === 0) return 0;
    const expiryAccountId = await this.postings.systemAccountId(ledger.rootLedgerId, 'system:expiry');

    let posted = 0;
    for (const candidate of candidates) {
      const result = await this.engine.postDecidedWithin(origin, async (client) => {
        const balance = await lockBalanceWithLapsed(client, { rootLedgerId: ledger.rootLedgerId, accountId: candidate.accountId, assetId: candidate.assetId }, asOf);
        if (balance === null) return null;
        const amount = expirableAmount(balance.lapsed, deriveBalance(balance.totals, balance.normalBalance).available);
        if (amount === 0n) return null;
        // Expiry lowers the customer's balance in its normal direction; system:expiry takes the other side.
        const customerSide = balance.normalBalance === 'CREDIT' ? 'DEBIT' : 'CREDIT';
        return {
          operation: 'runExpiry',
          rootLedgerId: ledger.rootLedgerId,
          ledgerId: candidate.ledgerId,
          kind: TransactionKind.EXPIRE,
          idempotencyKey: `expiry:${candidate.accountId}:${candidate.assetId}:${newId()}`,
          description: `Expired ${candidate.assetCode} lapsed by ${asOf.toISOString()}`,
          metadata: { asOf: asOf.toISOString() },
          effectiveAt: null,
          entries: [
            { accountId: candidate.accountId, assetCode: candidate.assetCode, direction: customerSide, amount },
            { accountId: expiryAccountId, assetCode: candidate.assetCode, direction: customerSide === 'DEBIT' ? 'CREDIT' : 'DEBIT', amount },
          ],
          reversalOfId: null,
          pending: false,
          timeoutSeconds: null,
          lotExpiresAt: null,
          request: { operation: 'runExpiry', accountId: candidate.accountId, assetId: candidate.assetId, asOf },
        };
      });
      if (result !== null) posted += 1;
    }
    return posted;
  }
}
