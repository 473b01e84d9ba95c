import { Field, ID, InputType } from 'type-graphql';
import { AmountScalar } from '../platform/scalars.js';
import { LimitPeriod } from '../platform/calendar.types.js';
import { LimitKind } from './limit.types.js';

@InputType()
export class CreateLimitInput {
  @Field(() => ID, { description: 'The limit applies to every customer account in this ledger’s subtree.' })
  ledgerId!: string;

  @Field(() => String, { description: 'The asset code.' })
  asset!: string;

  @Field(() => LimitKind)
  kind!: LimitKind;

  @Field(() => AmountScalar, { description: 'Minor units, zero or more (zero forbids the movement).' })
  amount!: bigint;

  @Field(() => LimitPeriod, { nullable: true, description: 'Required for the per-period kinds; none for MAX_BALANCE.' })
  period?: LimitPeriod | null;

  @Field(() => String, { nullable: true, defaultValue: 'UTC', description: 'An IANA time zone for the periods.' })
  timeZone?: string | null;
}
