import { registerEnumType } from 'type-graphql';

/**
 * The enums of the Reconciliation contract (API.md), in one place for every reconciliation file: the
 * imports' ExternalRecordStatus and the runs' modes, statuses, exception kinds and resolutions. An enum
 * enters the schema only once a field uses it.
 */
export enum ExternalRecordStatus {
  UNMATCHED = 'UNMATCHED',
  MATCHED = 'MATCHED',
  EXCLUDED = 'EXCLUDED',
}
registerEnumType(ExternalRecordStatus, { name: 'ExternalRecordStatus' });

export enum ReconciliationRunMode {
  DRY_RUN = 'DRY_RUN',
  COMMIT = 'COMMIT',
}
registerEnumType(ReconciliationRunMode, { name: 'ReconciliationRunMode' });

export enum ReconciliationRunStatus {
  RUNNING = 'RUNNING',
  COMPLETED = 'COMPLETED',
  FAILED = 'FAILED',
}
registerEnumType(ReconciliationRunStatus, { name: 'ReconciliationRunStatus' });

export enum ReconciliationExceptionKind {
  MISSING_IN_LEDGER = 'MISSING_IN_LEDGER',
  MISSING_EXTERNALLY = 'MISSING_EXTERNALLY',
  AMOUNT_MISMATCH = 'AMOUNT_MISMATCH',
  DUPLICATE_EXTERNAL = 'DUPLICATE_EXTERNAL',
  AMBIGUOUS = 'AMBIGUOUS',
}
registerEnumType(ReconciliationExceptionKind, { name: 'ReconciliationExceptionKind' });

export enum ReconciliationExceptionStatus {
  OPEN = 'OPEN',
  RESOLVED = 'RESOLVED',
}
registerEnumType(ReconciliationExceptionStatus, { name: 'ReconciliationExceptionStatus' });

export enum ReconciliationResolution {
  POST_ADJUSTMENT = 'POST_ADJUSTMENT',
  MATCH_MANUALLY = 'MATCH_MANUALLY',
  EXPLAIN = 'EXPLAIN',
}
registerEnumType(ReconciliationResolution, { name: 'ReconciliationResolution' });
