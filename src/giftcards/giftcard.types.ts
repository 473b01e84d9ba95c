import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeScalar } from '../platform/scalars.js';
import { Transaction } from '../transactions/transaction.types.js';

export enum GiftCardStatus {
  ACTIVE = 'ACTIVE',
  LOCKED = 'LOCKED',
  CLOSED = 'CLOSED',
}
registerEnumType(GiftCardStatus, {
  name: 'GiftCardStatus',
  valuesConfig: {
    ACTIVE: { description: 'Opens with its code and PIN.' },
    LOCKED: { description: 'Five wrong PINs in a row; refuses every PIN until an ADMIN unlocks it.' },
    CLOSED: { description: 'No longer usable.' },
  },
});

@ObjectType({ description: 'A gift card: an account holding its value. Its code and PIN are stored only as hashes.' })
export class GiftCard {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { description: 'The last four digits of the code: all of it that is ever shown again.' })
  last4!: string;

  @Field(() => GiftCardStatus)
  status!: GiftCardStatus;

  @Field(() => DateTimeScalar, { nullable: true, description: 'After this instant the card opens no more.' })
  expiresAt!: Date | null;

  rootLedgerId!: string;
  ledgerId!: string;
  accountId!: string;
  assetId!: string;
}

@ObjectType({ description: 'A new gift card: its code and PIN are shown here once and never again.' })
export class IssuedGiftCard {
  @Field(() => GiftCard)
  card!: GiftCard;

  @Field(() => String, {
    description:
      'The 19-digit code (Luhn check digit last). On a replay (replayed: true) only its last four digits, the rest masked with *.',
  })
  code!: string;

  @Field(() => String, { description: 'The 6-digit PIN. On a replay, masked with *.' })
  pin!: string;

  @Field(() => Transaction, { description: 'The ISSUE posting that put the value on the card.' })
  transaction!: Transaction;

  @Field(() => Boolean, {
    description:
      'True when this answers a repeated idempotency key: the card is the original, its code and PIN masked.',
  })
  replayed!: boolean;
}
