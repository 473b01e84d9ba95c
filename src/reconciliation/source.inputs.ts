import { Field, ID, InputType, Int } from 'type-graphql';
import { AmountScalar } from '../platform/scalars.js';

@InputType()
export class CreateExternalSourceInput {
  @Field(() => ID, { description: 'The top of the subtree whose transactions the source is reconciled against.' })
  ledgerId!: string;

  @Field(() => String, { description: 'Unique in the tree: 1 to 64 of A–Z, a–z, 0–9 and . _ : -.' })
  code!: string;

  @Field(() => String)
  name!: string;

  @Field(() => Boolean, { nullable: true, defaultValue: false })
  continuous?: boolean | null;
}

@InputType()
export class CreateMatchRuleInput {
  @Field(() => ID)
  sourceId!: string;

  @Field(() => Int, { description: '1 to 1,000, lower first; a taken priority retires the rule that held it.' })
  priority!: number;

  @Field(() => String, {
    nullable: true,
    defaultValue: 'idempotencyKey',
    description: 'idempotencyKey or metadata.<key>',
  })
  referenceField?: string | null;

  @Field(() => Boolean, { nullable: true, defaultValue: true })
  matchAccount?: boolean | null;

  @Field(() => AmountScalar, { nullable: true, defaultValue: 0n, description: 'Inclusive, in minor units; ≥ 0.' })
  amountTolerance?: bigint | null;

  @Field(() => Int, { nullable: true, defaultValue: 86_400, description: '0 to 31,622,400 (366 days).' })
  dateWindowSeconds?: number | null;
}
