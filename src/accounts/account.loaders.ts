import DataLoader from 'dataloader';
import { LOADER_BATCH_MAX, loaderById, loaderOfGroups } from '../platform/loader.js';
import type { AccountService } from './account.service.js';
import type { Account, Balance } from './account.types.js';

type Services = { accounts: AccountService };

/** The accounts module's per-request loaders (made lazily by the request's loader set). */
export const accountLoaders = {
  accountById: (services: Services) => loaderById<Account>((ids) => services.accounts.fetchByIds(ids)),

  balancesOfAccount: (services: Services) =>
    loaderOfGroups<{ rootLedgerId: string; accountId: string }, Balance>(
      (keys) => services.accounts.balancesOf(keys),
      (balance) => ({ rootLedgerId: balance.rootLedgerId, accountId: balance.accountId }),
      (key) => key.accountId,
    ),

  /** Accounts whose balances the response will read: both in one statement, the balances primed. */
  accountWithBalances: (
    services: Services,
    loaders: {
      readonly accountById: DataLoader<string, Account | null>;
      readonly balancesOfAccount: DataLoader<{ rootLedgerId: string; accountId: string }, Balance[]>;
    },
  ) =>
    new DataLoader<string, Account | null>(
      async (ids) => {
        const found = new Map((await services.accounts.fetchWithBalances([...ids])).map((entry) => [entry.account.id, entry]));
        return ids.map((id) => {
          const entry = found.get(id);
          if (entry === undefined) return null;
          loaders.accountById.prime(id, entry.account);
          loaders.balancesOfAccount.prime({ rootLedgerId: entry.account.rootLedgerId, accountId: id }, entry.balances);
          return entry.account;
        });
      },
      { maxBatchSize: LOADER_BATCH_MAX },
    ),
};
