import DataLoader from 'dataloader';
import { LOADER_BATCH_MAX, loaderById, loaderOfGroups } from '../platform/loader.js';
import type { Connection } from '../platform/pagination.js';
import type { EntryPageKey } from './transaction.repository.js';
import type { TransactionService } from './transaction.service.js';
import type { Entry, Transaction } from './transaction.types.js';

type Services = { transactions: TransactionService };

/** The transactions module's per-request loaders (made lazily by the request's loader set). */
export const transactionLoaders = {
  transactionById: (services: Services) => loaderById<Transaction>((ids) => services.transactions.fetchByIds(ids)),

  entriesOfTransaction: (services: Services) => loaderOfGroups<string, Entry>((ids) => services.transactions.entriesOf(ids), (entry) => entry.transactionId),

  reversalOf: (services: Services) =>
    loaderOfGroups<{ rootLedgerId: string; id: string }, Transaction>(
      (keys) => services.transactions.reversalsOf(keys),
      (reversal) => ({ rootLedgerId: reversal.rootLedgerId, id: reversal.reversalOfId! }),
      (key) => key.id,
    ),

  settlementsOf: (services: Services) =>
    new DataLoader<string, Array<{ holdId: string; captureId: string | null }>>(
      async (ids) => {
        const rows = await services.transactions.settlementsOf([...ids]);
        return ids.map((id) => rows.filter((row) => row.holdId === id || row.captureId === id));
      },
      { maxBatchSize: LOADER_BATCH_MAX },
    ),

  entryPages: (services: Services) =>
    new DataLoader<EntryPageKey, Connection<Entry>, string>(
      async (keys) => {
        // Accounts asking for the same page shape share one statement.
        const groups = new Map<string, number[]>();
        keys.forEach((key, index) => {
          const shape = pageShape(key);
          groups.set(shape, [...(groups.get(shape) ?? []), index]);
        });
        const results = new Array<Connection<Entry>>(keys.length);
        await Promise.all(
          [...groups.values()].map(async (indexes) => {
            const pages = await services.transactions.entryPages(indexes.map((index) => keys[index]!));
            indexes.forEach((index, position) => {
              results[index] = pages[position]!;
            });
          }),
        );
        return results;
      },
      { maxBatchSize: LOADER_BATCH_MAX, cacheKeyFn: (key) => `${key.accountId}|${pageShape(key)}` },
    ),
};

function pageShape(key: EntryPageKey): string {
  return JSON.stringify([key.page, key.assetId, key.from, key.to]);
}
