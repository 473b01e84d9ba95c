import { loaderById } from '../platform/loader.js';
import type { RecordService } from './record.service.js';
import type { ExternalRecord } from './record.types.js';
import type { RunService } from './run.service.js';
import { toRun, type ReconciliationRun } from './run.types.js';

type Services = { reconciliationRuns: RunService; reconciliationRecords: RecordService };

/** The reconciliation runs module's per-request loaders. */
export const runLoaders = {
  reconciliationRunById: (services: Services) =>
    loaderById<ReconciliationRun>(async (ids) => (await services.reconciliationRuns.fetchByIds(ids)).map(toRun)),

  externalRecordById: (services: Services) =>
    loaderById<ExternalRecord>((ids) => services.reconciliationRecords.fetchByIds(ids)),
};
