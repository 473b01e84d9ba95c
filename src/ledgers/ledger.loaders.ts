import DataLoader from 'dataloader';
import type { Placement } from '../authorization/access.core.js';
import { LOADER_BATCH_MAX, loaderById, loaderOfGroups } from '../platform/loader.js';
import type { LedgerService } from './ledger.service.js';
import type { Ledger, LedgerBalance } from './ledger.types.js';

/** The ledgers module's per-request loaders (made lazily by the request's loader set). */
export const ledgerLoaders = {
  ledgerById: (services: { ledgers: LedgerService }) => loaderById<Ledger>((ids) => services.ledgers.fetchByIds(ids)),

  ledgerPlacement: (services: { ledgers: LedgerService }) =>
    new DataLoader<string, Placement | null>(
      async (ids) => {
        const found = await services.ledgers.placements([...ids]);
        return ids.map((id) => found.get(id) ?? null);
      },
      { maxBatchSize: LOADER_BATCH_MAX },
    ),

  ledgerBalances: (services: { ledgers: LedgerService }) =>
    loaderOfGroups<string, LedgerBalance & { ledgerId: string }>((ids) => services.ledgers.subtreeBalances(ids), (row) => row.ledgerId),
};
