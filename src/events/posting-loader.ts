import type { AccountService } from '../accounts/account.service.js';
import type { TransactionService } from '../transactions/transaction.service.js';
import type { PostingLoader } from './event-hub.js';
import type { ChangedBalance, CommittedPosting } from './ledger-events.js';

/**
 * Rebuilds the event of a posting that crossed instances as a reference. Its balance rows are not known
 * any more, so each is marked for a re-read (`sharded`), which yields the current summed balance.
 */
export function postingLoader(transactions: TransactionService, accounts: AccountService): PostingLoader {
  return async (rootLedgerId, transactionId) => {
    const [transaction] = await transactions.fetchByIds([transactionId]);
    if (transaction === undefined || transaction.rootLedgerId !== rootLedgerId) return null;
    const entries = await transactions.entriesOf([transactionId]);
    const byId = new Map(
      (await accounts.fetchByIds([...new Set(entries.map((entry) => entry.accountId))])).map((account) => [
        account.id,
        account,
      ]),
    );
    const balances = new Map<string, ChangedBalance>();
    for (const entry of entries) {
      const account = byId.get(entry.accountId)!;
      balances.set(`${entry.accountId}|${entry.assetId}`, {
        rootLedgerId,
        accountId: entry.accountId,
        assetId: entry.assetId,
        shard: 0,
        sharded: true,
        normalBalance: account.normalBalance,
        debitsPosted: 0n,
        creditsPosted: 0n,
        debitsPending: 0n,
        creditsPending: 0n,
        version: 0,
        updatedAt: new Date(0),
      });
    }
    const posting: CommittedPosting = {
      rootLedgerId,
      transactionId,
      ledgerId: transaction.ledgerId,
      accountLedgerIds: [...new Set(entries.map((entry) => entry.ledgerId))],
      accountIds: [...byId.keys()],
      status: transaction.status,
      balances: [...balances.values()],
    };
    return posting;
  };
}
