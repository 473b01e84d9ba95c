import { Field, ID, InputType } from 'type-graphql';
import { DateTimeScalar } from '../platform/scalars.js';
import { ReconciliationResolution, ReconciliationRunMode } from './run.types.js';

@InputType()
export class RunReconciliationInput {
  @Field(() => ID)
  sourceId!: string;

  @Field(() => ReconciliationRunMode)
  mode!: ReconciliationRunMode;

  @Field(() => DateTimeScalar, {
    description: 'Records that occurred, and postings effective, from this instant (inclusive).',
  })
  from!: Date;

  @Field(() => DateTimeScalar, { description: 'To this instant (inclusive); at most 366 days after from.' })
  to!: Date;

  @Field(() => String, {
    description: 'The same key and input answer the same run; the same key with other input is refused.',
  })
  idempotencyKey!: string;
}

@InputType()
export class ResolveReconciliationExceptionInput {
  @Field(() => ReconciliationResolution)
  resolution!: ReconciliationResolution;

  @Field(() => String, { description: 'Why; 1 to 2,000 characters, kept with the exception and in the audit trail.' })
  note!: string;

  @Field(() => String, {
    description: 'The same key answers the same resolution; a POST_ADJUSTMENT posts at most once.',
  })
  idempotencyKey!: string;

  @Field(() => ID, { nullable: true, description: 'MATCH_MANUALLY only: the transaction to link the record to.' })
  transactionId?: string | null;
}
