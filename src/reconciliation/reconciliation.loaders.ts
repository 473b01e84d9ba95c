import DataLoader from 'dataloader';
import { LOADER_BATCH_MAX, loaderById, loaderOfGroups } from '../platform/loader.js';
import type { RecordService } from './record.service.js';
import type { SourceService } from './source.service.js';
import type { ExternalSource, MatchRule } from './source.types.js';

type Services = { reconciliationSources: SourceService; reconciliationRecords: RecordService };

/** The reconciliation module's per-request loaders (made lazily by the request's loader set). */
export const reconciliationLoaders = {
  externalSourceById: (services: Services) =>
    loaderById<ExternalSource>((ids) => services.reconciliationSources.fetchByIds(ids)),

  activeRulesOfSource: (services: Services) =>
    loaderOfGroups<string, MatchRule>(
      (ids) => services.reconciliationSources.activeRules(ids),
      (rule) => rule.sourceId,
    ),

  matchedTransactionOfRecord: (services: Services) =>
    new DataLoader<string, string | null>(
      async (ids) => {
        const rows = await services.reconciliationRecords.matchedTransactions([...ids]);
        const byRecord = new Map(rows.map((row) => [row.recordId, row.transactionId]));
        return ids.map((id) => byRecord.get(id) ?? null);
      },
      { maxBatchSize: LOADER_BATCH_MAX },
    ),
};
