import { Field, ID, ObjectType } from 'type-graphql';
import { AmountScalar, DateTimeScalar, JSONObjectScalar } from '../platform/scalars.js';
import { ConnectionType } from '../platform/pagination.js';

@ObjectType({ description: 'A book of accounts. Root ledgers are tenants; sub-ledgers nest without limit.' })
export class Ledger {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  code!: string;

  @Field(() => String)
  name!: string;

  @Field(() => JSONObjectScalar)
  metadata!: Record<string, unknown>;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  rootLedgerId!: string;
  parentId!: string | null;
  /** Ledger ids from the root down to this one, inclusive. */
  path!: string[];
}

@ObjectType('LedgerConnection')
export class LedgerConnection extends ConnectionType('Ledger', Ledger) {}

@ObjectType({ description: 'Totals of one asset over a ledger and all its descendants.' })
export class LedgerBalance {
  @Field(() => AmountScalar)
  debitsPosted!: bigint;

  @Field(() => AmountScalar)
  creditsPosted!: bigint;

  @Field(() => AmountScalar)
  debitsPending!: bigint;

  @Field(() => AmountScalar)
  creditsPending!: bigint;

  rootLedgerId!: string;
  assetId!: string;
}
