import { Field, ID, InputType } from 'type-graphql';
import { AmountScalar, DateTimeScalar, JSONObjectScalar } from '../platform/scalars.js';
import { Direction } from '../transactions/transaction.types.js';

@InputType()
export class ExternalRecordInput {
  @Field(() => String, { description: '1 to 255 characters; the key of the record in its source.' })
  externalId!: string;

  @Field(() => String, { description: 'An asset code of the ledger tree.' })
  asset!: string;

  @Field(() => AmountScalar, { description: 'Positive, in minor units.' })
  amount!: bigint;

  @Field(() => Direction, { description: 'CREDIT: the account gained value.' })
  direction!: Direction;

  @Field(() => DateTimeScalar)
  occurredAt!: Date;

  @Field(() => String, {
    nullable: true,
    description: "At most 255 characters: what the rules' referenceField must equal.",
  })
  reference?: string | null;

  @Field(() => String, { nullable: true, description: 'At most 255 characters.' })
  accountCode?: string | null;

  @Field(() => JSONObjectScalar, { nullable: true })
  metadata?: Record<string, unknown> | null;
}

@InputType()
export class ImportExternalRecordsInput {
  @Field(() => ID)
  sourceId!: string;

  @Field(() => String, { description: '1 to 255 characters, per source; shared with the streamed HTTP import.' })
  idempotencyKey!: string;

  @Field(() => [ExternalRecordInput], { description: 'At most 1,000; a bad record is rejected, the others go on.' })
  records!: ExternalRecordInput[];
}
