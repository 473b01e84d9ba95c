import { Field, ID, Int, ObjectType } from 'type-graphql';
import {
  ReconciliationExceptionKind,
  ReconciliationExceptionStatus,
  ReconciliationResolution,
  ReconciliationRunMode,
  ReconciliationRunStatus,
} from './reconciliation.enums.js';
import { ConnectionType } from '../platform/pagination.js';
import { AmountScalar, DateTimeScalar } from '../platform/scalars.js';
import type { ExceptionRow, RunRow } from './run.repository.js';

export {
  ReconciliationExceptionKind,
  ReconciliationExceptionStatus,
  ReconciliationResolution,
  ReconciliationRunMode,
  ReconciliationRunStatus,
};

@ObjectType({
  description:
    'Both sides of a run. Every record in the window is exactly one of matched, missingInLedger, amountMismatch, duplicates, ambiguous.',
})
export class ReconciliationSummary {
  @Field(() => Int, {
    description: "The source's current records that occurred in [from, to] (excluded ones not counted).",
  })
  externalRecords!: number;

  @Field(() => Int, {
    description:
      'Ledger transactions the run accounted for: those effective in [from, to] in scope, plus any matched from just outside it (within a rule date window).',
  })
  ledgerTransactions!: number;

  @Field(() => Int, { description: 'Records paired with a transaction, including pairs matched before this run.' })
  matched!: number;

  @Field(() => Int)
  missingInLedger!: number;

  @Field(() => Int)
  missingExternally!: number;

  @Field(() => Int)
  amountMismatch!: number;

  @Field(() => Int, { description: 'DUPLICATE_EXTERNAL: records claiming a transaction another record matched.' })
  duplicates!: number;

  @Field(() => Int, { description: 'AMBIGUOUS: records that could match several transactions, left unmatched.' })
  ambiguous!: number;
}

@ObjectType({ description: 'One reconciliation of a source over [from, to], pinned so it can be reproduced.' })
export class ReconciliationRun {
  @Field(() => ID)
  id!: string;

  @Field(() => ReconciliationRunMode)
  mode!: ReconciliationRunMode;

  @Field(() => ReconciliationRunStatus)
  status!: ReconciliationRunStatus;

  @Field(() => DateTimeScalar)
  from!: Date;

  @Field(() => DateTimeScalar)
  to!: Date;

  @Field(() => DateTimeScalar)
  startedAt!: Date;

  @Field(() => DateTimeScalar, { nullable: true })
  finishedAt!: Date | null;

  @Field(() => ReconciliationSummary)
  summary!: ReconciliationSummary;

  @Field(() => Int, { description: "The source's rules version the run matched with." })
  rulesVersion!: number;

  @Field(() => [ID], { description: 'The rules it applied, in the order it applied them.' })
  ruleIds!: string[];

  @Field(() => String, {
    nullable: true,
    description:
      'The journal high-water mark: the database snapshot (xmin:xmax:in-progress xids) the ledger side was read in. A transaction is in the run exactly when its writer had committed in that snapshot.',
  })
  journalHighWater!: string | null;

  @Field(() => String, { nullable: true, description: 'Why a FAILED run failed.' })
  error!: string | null;

  rootLedgerId!: string;
  sourceId!: string;
}

@ObjectType({
  description:
    'One disagreement a run found, with both amounts (signed: positive when the account gained) and the difference.',
})
export class ReconciliationException {
  @Field(() => ID)
  id!: string;

  @Field(() => ReconciliationExceptionKind)
  kind!: ReconciliationExceptionKind;

  @Field(() => ReconciliationExceptionStatus)
  status!: ReconciliationExceptionStatus;

  @Field(() => AmountScalar, { nullable: true, description: "The record's amount, signed: the partner's side." })
  expectedAmount!: bigint | null;

  @Field(() => AmountScalar, { nullable: true, description: "The ledger line's amount, signed: the ledger's side." })
  ledgerAmount!: bigint | null;

  @Field(() => AmountScalar, {
    nullable: true,
    description: 'expectedAmount - ledgerAmount, an absent side counting as 0.',
  })
  difference!: bigint | null;

  @Field(() => ReconciliationResolution, { nullable: true })
  resolution!: ReconciliationResolution | null;

  @Field(() => String, { nullable: true })
  note!: string | null;

  @Field(() => DateTimeScalar, { nullable: true })
  resolvedAt!: Date | null;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  rootLedgerId!: string;
  runId!: string;
  sourceId!: string;
  recordId!: string | null;
  transactionId!: string | null;
  accountId!: string | null;
  resolutionTransactionId!: string | null;
}

@ObjectType('ReconciliationRunConnection')
export class ReconciliationRunConnection extends ConnectionType('ReconciliationRun', ReconciliationRun) {}

@ObjectType('ReconciliationExceptionConnection')
export class ReconciliationExceptionConnection extends ConnectionType(
  'ReconciliationException',
  ReconciliationException,
) {}

export function toRun(row: RunRow): ReconciliationRun {
  return Object.assign(new ReconciliationRun(), {
    id: row.id,
    rootLedgerId: row.rootLedgerId,
    sourceId: row.sourceId,
    mode: row.mode as ReconciliationRunMode,
    status: row.status as ReconciliationRunStatus,
    from: row.from,
    to: row.to,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    rulesVersion: row.rulesVersion,
    ruleIds: row.ruleIds,
    journalHighWater: row.journalHighWater,
    error: row.error,
    summary: Object.assign(new ReconciliationSummary(), {
      externalRecords: row.externalRecords,
      ledgerTransactions: row.ledgerTransactions,
      matched: row.matched,
      missingInLedger: row.missingInLedger,
      missingExternally: row.missingExternally,
      amountMismatch: row.amountMismatch,
      duplicates: row.duplicates,
      ambiguous: row.ambiguous,
    }),
  });
}

export function toException(row: ExceptionRow): ReconciliationException {
  return Object.assign(new ReconciliationException(), {
    id: row.id,
    rootLedgerId: row.rootLedgerId,
    runId: row.runId,
    sourceId: row.sourceId,
    kind: row.kind as ReconciliationExceptionKind,
    status: row.status as ReconciliationExceptionStatus,
    recordId: row.recordId,
    transactionId: row.transactionId,
    accountId: row.accountId,
    expectedAmount: row.expectedAmount,
    ledgerAmount: row.ledgerAmount,
    difference: row.difference,
    resolution: row.resolution as ReconciliationResolution | null,
    note: row.note,
    resolvedAt: row.resolvedAt,
    createdAt: row.createdAt,
    resolutionTransactionId: row.resolutionTransactionId,
  });
}
