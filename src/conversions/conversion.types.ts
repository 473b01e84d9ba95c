import { Field, ID, ObjectType } from 'type-graphql';
import { AmountScalar, DateTimeScalar } from '../platform/scalars.js';
import { Asset } from '../assets/asset.types.js';
import { Transaction } from '../transactions/transaction.types.js';

@ObjectType({
  description:
    'How much of toAsset one minor unit of fromAsset buys: numerator/denominator, exactly; in force from validFrom until a later rate of the pair.',
})
export class ExchangeRate {
  @Field(() => ID)
  id!: string;

  @Field(() => Asset)
  fromAsset!: Asset;

  @Field(() => Asset)
  toAsset!: Asset;

  @Field(() => AmountScalar)
  numerator!: bigint;

  @Field(() => AmountScalar)
  denominator!: bigint;

  @Field(() => DateTimeScalar)
  validFrom!: Date;
}

@ObjectType({
  description: 'A conversion: the transaction, the rate it used (pinned in its metadata) and both amounts.',
})
export class ConversionPayload {
  @Field(() => Transaction)
  transaction!: Transaction;

  @Field(() => Boolean, { description: 'True when this answers a repeated idempotency key with the original.' })
  replayed!: boolean;

  @Field(() => ExchangeRate, { description: 'The rate in force when the conversion was posted.' })
  rate!: ExchangeRate;

  @Field(() => AmountScalar, { description: 'Taken from the account, in fromAsset.' })
  debited!: bigint;

  @Field(() => AmountScalar, { description: 'floor(debited × numerator ÷ denominator), given in toAsset.' })
  credited!: bigint;
}
