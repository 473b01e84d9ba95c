import { Field, ID, InputType } from 'type-graphql';
import { AmountScalar, DateTimeScalar, JSONObjectScalar } from '../platform/scalars.js';
import { AccountStatus, NormalBalance } from './account.types.js';

@InputType()
export class CreateAccountInput {
  @Field(() => ID)
  ledgerId!: string;

  @Field(() => String)
  code!: string;

  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => NormalBalance, { nullable: true, defaultValue: NormalBalance.CREDIT })
  normalBalance?: NormalBalance | null;

  @Field(() => Boolean, { nullable: true, defaultValue: false })
  allowOverdraft?: boolean | null;

  @Field(() => AmountScalar, { nullable: true })
  overdraftLimit?: bigint | null;

  @Field(() => JSONObjectScalar, { nullable: true })
  metadata?: Record<string, unknown> | null;
}

@InputType()
export class UpdateAccountInput {
  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => AccountStatus, {
    nullable: true,
    description: 'FROZEN and CLOSED refuse postings; CLOSED needs zero balances and is final.',
  })
  status?: AccountStatus | null;

  @Field(() => JSONObjectScalar, { nullable: true, description: 'Replaces the metadata object.' })
  metadata?: Record<string, unknown> | null;
}

@InputType('AccountFilter')
export class AccountFilterInput {
  @Field(() => String, { nullable: true })
  codePrefix?: string | null;

  @Field(() => AccountStatus, { nullable: true })
  status?: AccountStatus | null;

  @Field(() => JSONObjectScalar, { nullable: true, description: 'Accounts whose metadata contains this object.' })
  metadata?: Record<string, unknown> | null;

  @Field(() => Boolean, { nullable: true, defaultValue: false })
  includeDescendants?: boolean | null;
}

@InputType('EntryFilter')
export class EntryFilterInput {
  @Field(() => String, { nullable: true, description: 'Asset code.' })
  asset?: string | null;

  @Field(() => DateTimeScalar, { nullable: true })
  from?: Date | null;

  @Field(() => DateTimeScalar, { nullable: true })
  to?: Date | null;
}
