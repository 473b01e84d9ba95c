import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { AmountScalar, DateTimeScalar } from '../platform/scalars.js';
import { LimitPeriod } from '../platform/calendar.types.js';

export enum LimitKind {
  EARN_PER_PERIOD = 'EARN_PER_PERIOD',
  REDEEM_PER_PERIOD = 'REDEEM_PER_PERIOD',
  MAX_BALANCE = 'MAX_BALANCE',
}
registerEnumType(LimitKind, {
  name: 'LimitKind',
  description: 'What a limit bounds, for each customer account of its subtree.',
  valuesConfig: {
    EARN_PER_PERIOD: { description: 'Credits of ISSUE and ADJUST postings to the account in a calendar period.' },
    REDEEM_PER_PERIOD: { description: 'Debits of REDEEM postings (and hold captures) in a calendar period.' },
    MAX_BALANCE: { description: 'The posted balance after a posting that raises it.' },
  },
});

@ObjectType({
  description:
    'A program rule enforced inside every posting: a cap per calendar period or a balance ceiling, for the customer accounts of a ledger subtree in one asset.',
})
export class Limit {
  @Field(() => ID)
  id!: string;

  @Field(() => LimitKind)
  kind!: LimitKind;

  @Field(() => AmountScalar)
  amount!: bigint;

  @Field(() => LimitPeriod, { nullable: true, description: 'Null for MAX_BALANCE.' })
  period!: LimitPeriod | null;

  @Field(() => String, { description: 'The IANA zone whose calendar the periods follow.' })
  timeZone!: string;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  rootLedgerId!: string;
  ledgerId!: string;
  assetId!: string;
}

@ObjectType({ description: 'A limit as it stands for one account: what is used of it in the current period.' })
export class LimitUsage {
  @Field(() => Limit)
  limit!: Limit;

  @Field(() => AmountScalar, {
    description: 'Counted in the current period; for MAX_BALANCE, the posted balance.',
  })
  used!: bigint;

  @Field(() => AmountScalar, { description: 'amount − used, never below zero.' })
  remaining!: bigint;

  @Field(() => DateTimeScalar, { nullable: true, description: 'The current period’s start; null for MAX_BALANCE.' })
  periodStart!: Date | null;

  @Field(() => DateTimeScalar, {
    nullable: true,
    description: 'The current period’s end (the next one’s start); null for MAX_BALANCE.',
  })
  periodEnd!: Date | null;
}
