import { Field, ID, InputType } from 'type-graphql';
import { DateTimeScalar, JSONObjectScalar } from '../platform/scalars.js';
import { TransactionKind, TransactionStatus } from './transaction.types.js';

@InputType('TransactionFilter')
export class TransactionFilterInput {
  @Field(() => ID, { nullable: true })
  accountId?: string | null;

  @Field(() => TransactionKind, { nullable: true })
  kind?: TransactionKind | null;

  @Field(() => TransactionStatus, { nullable: true })
  status?: TransactionStatus | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'effectiveAt at or after this instant.' })
  from?: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'effectiveAt at or before this instant.' })
  to?: Date | null;

  @Field(() => JSONObjectScalar, { nullable: true, description: 'Transactions whose metadata contains this object.' })
  metadata?: Record<string, unknown> | null;
}
