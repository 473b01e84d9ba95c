import { Field, ID, Int, ObjectType } from 'type-graphql';
import { ConnectionType } from '../platform/pagination.js';
import { AmountScalar, DateTimeScalar, JSONObjectScalar } from '../platform/scalars.js';
import { Direction } from '../transactions/transaction.types.js';
import { ExternalRecordStatus } from './reconciliation.enums.js';

@ObjectType({
  description:
    "One version of a source's record of a movement. Re-importing other content for its externalId makes version + 1; " +
    'earlier versions are kept for the runs that saw them.',
})
export class ExternalRecord {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  externalId!: string;

  @Field(() => Int)
  version!: number;

  @Field(() => Boolean, { description: 'Whether this is the latest version of its externalId.' })
  isCurrent!: boolean;

  @Field(() => AmountScalar, { description: 'Positive, in minor units of the asset.' })
  amount!: bigint;

  @Field(() => Direction, { description: 'CREDIT: the account gained value.' })
  direction!: Direction;

  @Field(() => DateTimeScalar)
  occurredAt!: Date;

  @Field(() => String, { nullable: true })
  reference!: string | null;

  @Field(() => String, { nullable: true })
  accountCode!: string | null;

  @Field(() => JSONObjectScalar)
  metadata!: Record<string, unknown>;

  @Field(() => ExternalRecordStatus)
  status!: ExternalRecordStatus;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  rootLedgerId!: string;
  sourceId!: string;
  assetId!: string;
  importId!: string | null;
}

@ObjectType()
export class ExternalRecordConnection extends ConnectionType('ExternalRecord', ExternalRecord) {}
