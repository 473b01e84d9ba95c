import { Field, ID, Int, ObjectType } from 'type-graphql';
import { ConnectionType } from '../platform/pagination.js';
import { AmountScalar, DateTimeScalar } from '../platform/scalars.js';

@ObjectType({
  description:
    'A rule for matching records to ledger transactions; a source applies its rules in priority order. Immutable: a ' +
    'new rule at a taken priority retires the old one, which stays for the runs that used it.',
})
export class MatchRule {
  @Field(() => ID)
  id!: string;

  @Field(() => Int, { description: 'Lower first.' })
  priority!: number;

  @Field(() => String, {
    description: "idempotencyKey or metadata.<key>: what the record's reference must equal on the transaction.",
  })
  referenceField!: string;

  @Field(() => Boolean, { description: "The record's accountCode must be the account's code." })
  matchAccount!: boolean;

  @Field(() => AmountScalar, { description: 'Inclusive, in minor units of the record asset.' })
  amountTolerance!: bigint;

  @Field(() => Int, { description: "How far the transaction's effective time may be from the record's occurredAt." })
  dateWindowSeconds!: number;

  @Field(() => Int, { description: "The source's rules version this rule was created at." })
  version!: number;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When a later rule replaced it; null while in force.' })
  retiredAt!: Date | null;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  rootLedgerId!: string;
  sourceId!: string;
}

@ObjectType({
  description:
    'One external system whose records the ledger must agree with (a POS, a processor, a partner), over a ledger subtree.',
})
export class ExternalSource {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { description: 'Unique within the ledger tree.' })
  code!: string;

  @Field(() => String)
  name!: string;

  @Field(() => Boolean, { description: 'Matched as records arrive and postings commit, without a run.' })
  continuous!: boolean;

  @Field(() => Int, { description: 'Bumped by every rule change; a run records the version it matched with.' })
  rulesVersion!: number;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  rootLedgerId!: string;
  ledgerId!: string;
}

@ObjectType()
export class ExternalSourceConnection extends ConnectionType('ExternalSource', ExternalSource) {}
