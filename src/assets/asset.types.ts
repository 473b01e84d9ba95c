import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';

export enum AssetKind {
  POINTS = 'POINTS',
  CURRENCY = 'CURRENCY',
  CASHBACK = 'CASHBACK',
  STORE_CREDIT = 'STORE_CREDIT',
  GIFT_CARD = 'GIFT_CARD',
  VOUCHER = 'VOUCHER',
  OTHER = 'OTHER',
}
registerEnumType(AssetKind, { name: 'AssetKind' });

@ObjectType({ description: 'What is counted (points, a currency, gift card value), defined on a root ledger.' })
export class Asset {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  code!: string;

  @Field(() => String)
  name!: string;

  @Field(() => AssetKind)
  kind!: AssetKind;

  @Field(() => Int, { description: 'Decimal places of the minor unit: 2 means amounts are hundredths.' })
  scale!: number;

  @Field(() => Int, { nullable: true })
  expiresAfterDays!: number | null;

  rootLedgerId!: string;
}
