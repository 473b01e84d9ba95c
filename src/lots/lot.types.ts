import { Field, ID, ObjectType } from 'type-graphql';
import { AmountScalar, DateTimeScalar } from '../platform/scalars.js';

@ObjectType({ description: 'Value of an expiring asset credited to an account, spent soonest-expiring first.' })
export class Lot {
  @Field(() => ID)
  id!: string;

  @Field(() => AmountScalar)
  amount!: bigint;

  @Field(() => AmountScalar)
  remaining!: bigint;

  @Field(() => DateTimeScalar, { nullable: true })
  expiresAt!: Date | null;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  rootLedgerId!: string;
  assetId!: string;
  sourceTransactionId!: string;
}

@ObjectType({ description: 'How much lapses at one instant.' })
export class ExpiringAmount {
  @Field(() => DateTimeScalar)
  expiresAt!: Date;

  @Field(() => AmountScalar)
  amount!: bigint;
}
