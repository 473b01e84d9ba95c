import { Field, ID, InputType } from 'type-graphql';
import { AmountScalar, DateTimeScalar } from '../platform/scalars.js';

@InputType()
export class IssueGiftCardInput {
  @Field(() => ID, { description: 'The ledger the card account is created in.' })
  ledgerId!: string;

  @Field(() => String)
  asset!: string;

  @Field(() => AmountScalar, { description: 'The value put on the card, issued from system:issuance.' })
  amount!: bigint;

  @Field(() => String)
  idempotencyKey!: string;

  @Field(() => DateTimeScalar, {
    nullable: true,
    description: 'After this the card opens no more (GIFT_CARD_EXPIRED).',
  })
  expiresAt?: Date | null;
}

@InputType()
export class RedeemGiftCardInput {
  @Field(() => String, { description: 'The 19-digit code; spaces or dashes between groups are allowed.' })
  code!: string;

  @Field(() => String)
  pin!: string;

  @Field(() => AmountScalar, { description: 'Any part of what is on the card.' })
  amount!: bigint;

  @Field(() => String)
  idempotencyKey!: string;
}
