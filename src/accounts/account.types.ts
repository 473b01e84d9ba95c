import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { AmountScalar, DateTimeScalar, JSONObjectScalar } from '../platform/scalars.js';
import { ConnectionType } from '../platform/pagination.js';
import { NormalBalance } from '../balances/balances.core.js';

export { NormalBalance };
registerEnumType(NormalBalance, { name: 'NormalBalance' });

export enum AccountStatus {
  ACTIVE = 'ACTIVE',
  FROZEN = 'FROZEN',
  CLOSED = 'CLOSED',
}
registerEnumType(AccountStatus, { name: 'AccountStatus' });

@ObjectType({ description: 'Holds one balance per asset.' })
export class Account {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  code!: string;

  @Field(() => String)
  name!: string;

  @Field(() => NormalBalance)
  normalBalance!: NormalBalance;

  @Field(() => Boolean)
  allowOverdraft!: boolean;

  @Field(() => AmountScalar, {
    nullable: true,
    description: 'With allowOverdraft, how far below zero `available` may go; null means unlimited.',
  })
  overdraftLimit!: bigint | null;

  @Field(() => AccountStatus)
  status!: AccountStatus;

  @Field(() => JSONObjectScalar)
  metadata!: Record<string, unknown>;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  rootLedgerId!: string;
  ledgerId!: string;
  isSystem!: boolean;
}

@ObjectType('AccountConnection')
export class AccountConnection extends ConnectionType('Account', Account) {}

@ObjectType({
  description: "One account's holding of one asset. Derived figures are in the account's normal direction.",
})
export class Balance {
  @Field(() => AmountScalar)
  posted!: bigint;

  @Field(() => AmountScalar, { description: 'Pending inflows minus pending outflows.' })
  pending!: bigint;

  @Field(() => AmountScalar, { description: 'Posted minus pending outflows: what can be spent now.' })
  available!: bigint;

  @Field(() => AmountScalar)
  debitsPosted!: bigint;

  @Field(() => AmountScalar)
  creditsPosted!: bigint;

  @Field(() => AmountScalar)
  debitsPending!: bigint;

  @Field(() => AmountScalar)
  creditsPending!: bigint;

  @Field(() => Int, { description: 'Grows by one with every change, so a client can detect a missed update.' })
  version!: number;

  @Field(() => DateTimeScalar, {
    nullable: true,
    description:
      'When the balance last changed; null while it has never changed (version 0) and for a reconstruction with asOf.',
  })
  updatedAt!: Date | null;

  @Field(() => String, {
    nullable: true,
    description:
      'On an event of `balanceUpdated(after:)`: a feed cursor (a LedgerEvent cursor) of the last posting this balance includes; it may include later ones too. Resubscribe with `after` set to it to continue. Null elsewhere.',
  })
  cursor?: string | null;

  rootLedgerId!: string;
  accountId!: string;
  assetId!: string;
  /** Set on a reconstruction (`balance(asOf:)`), which must not share the live balance's id. */
  asOf?: Date;

  // Clients that normalize by id (Apollo Client, urql's graphcache) then see one object per account and
  // asset: a balanceUpdated event updates every cached query that holds that balance.
  @Field(() => ID, {
    description:
      'Stable per account and asset (the same in queries and subscriptions), so caches normalize it; a reconstruction with asOf has its own.',
  })
  get id(): string {
    const live = `${this.accountId}:${this.assetId}`;
    return this.asOf === undefined ? live : `${live}@${this.asOf.toISOString()}`;
  }
}
