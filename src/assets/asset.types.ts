import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { LimitPeriod } from '../platform/calendar.types.js';
import type { ExpiryPolicy } from './expiry-policy.core.js';

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

export enum ExpiryPolicyKind {
  ROLLING = 'ROLLING',
  END_OF_PERIOD = 'END_OF_PERIOD',
  INACTIVITY = 'INACTIVITY',
}
registerEnumType(ExpiryPolicyKind, {
  name: 'ExpiryPolicyKind',
  valuesConfig: {
    ROLLING: { description: 'Each lot lapses `days` × 24 hours after it was earned.' },
    END_OF_PERIOD: {
      description:
        'Each lot lapses at the end of the `periods`-th calendar `period` after the one it was earned in, in `timeZone`.',
    },
    INACTIVITY: {
      description: "Every open lot of a balance lapses `days` × 24 hours after the balance's last activity.",
    },
  },
});

@ObjectType('ExpiryPolicy', { description: 'How long value of an asset lasts once earned.' })
export class ExpiryPolicyObject {
  @Field(() => ExpiryPolicyKind)
  kind!: ExpiryPolicyKind;

  @Field(() => Int, { nullable: true, description: 'ROLLING and INACTIVITY: the number of 24-hour days.' })
  days!: number | null;

  @Field(() => LimitPeriod, { nullable: true, description: 'END_OF_PERIOD: the calendar period.' })
  period!: LimitPeriod | null;

  @Field(() => Int, {
    nullable: true,
    description: 'END_OF_PERIOD: how many periods after the one of the earn (0: the end of that one).',
  })
  periods!: number | null;

  @Field(() => String, { nullable: true, description: 'END_OF_PERIOD: the IANA time zone of the calendar.' })
  timeZone!: string | null;
}

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

  @Field(() => Int, {
    nullable: true,
    description: 'Days a lot lasts under a ROLLING policy; null under any other (see expiryPolicy).',
  })
  get expiresAfterDays(): number | null {
    return this.expiryPolicy?.kind === 'ROLLING' ? this.expiryPolicy.days : null;
  }

  @Field(() => ExpiryPolicyObject, { nullable: true, description: 'Null: value of this asset never expires.' })
  expiryPolicy!: ExpiryPolicy | null;

  rootLedgerId!: string;
}
