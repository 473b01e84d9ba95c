import { loaderById } from '../platform/loader.js';
import type { RunService } from './run.service.js';
import { toRun, type ReconciliationRun } from './run.types.js';

type Services = { reconciliationRuns: RunService };

/** The reconciliation runs module's per-request loaders. */
export const runLoaders = {
  reconciliationRunById: (services: Services) =>
    loaderById<ReconciliationRun>(async (ids) => (await services.reconciliationRuns.fetchByIds(ids)).map(toRun)),
};
