import { Field, ID, InputType } from 'type-graphql';
import { AmountScalar, DateTimeScalar } from '../platform/scalars.js';

@InputType()
export class SetExchangeRateInput {
  @Field(() => ID, { description: 'The root ledger; a rate applies throughout its tree, like its assets.' })
  ledgerId!: string;

  @Field(() => String)
  fromAsset!: string;

  @Field(() => String)
  toAsset!: string;

  @Field(() => AmountScalar, { description: 'Positive.' })
  numerator!: bigint;

  @Field(() => AmountScalar, { description: 'Positive.' })
  denominator!: bigint;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When the rate comes into force; now by default.' })
  validFrom?: Date | null;
}

@InputType()
export class ConvertInput {
  @Field(() => ID)
  accountId!: string;

  @Field(() => String)
  fromAsset!: string;

  @Field(() => String)
  toAsset!: string;

  @Field(() => AmountScalar, { description: 'Debited in fromAsset; must convert to at least one minor unit.' })
  amount!: bigint;

  @Field(() => String)
  idempotencyKey!: string;
}
