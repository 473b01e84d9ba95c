import { Field, ID, InputType, Int } from 'type-graphql';
import { AmountScalar, DateTimeScalar, JSONObjectScalar } from '../platform/scalars.js';
import { Direction, TransactionKind } from '../transactions/transaction.types.js';

@InputType()
export class EntryInput {
  @Field(() => ID, { nullable: true })
  accountId?: string | null;

  @Field(() => String, {
    nullable: true,
    description: "An account code in the posting's ledger; system:* codes name the root's system accounts.",
  })
  accountCode?: string | null;

  @Field(() => String, { description: 'Asset code.' })
  asset!: string;

  @Field(() => Direction)
  direction!: Direction;

  @Field(() => AmountScalar)
  amount!: bigint;
}

@InputType()
export class PostTransactionInput {
  @Field(() => ID)
  ledgerId!: string;

  @Field(() => String)
  idempotencyKey!: string;

  @Field(() => TransactionKind, { nullable: true, defaultValue: TransactionKind.GENERIC })
  kind?: TransactionKind | null;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => JSONObjectScalar, { nullable: true })
  metadata?: Record<string, unknown> | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Defaults to now; at most 5 minutes ahead.' })
  effectiveAt?: Date | null;

  @Field(() => [EntryInput])
  entries!: EntryInput[];

  @Field(() => Boolean, {
    nullable: true,
    defaultValue: false,
    description: 'A hold: reserve the amounts until postPendingTransaction or voidPendingTransaction.',
  })
  pending?: boolean | null;

  @Field(() => Int, {
    nullable: true,
    description: 'For a pending transaction: void it automatically after this many seconds (at most 30 days).',
  })
  timeoutSeconds?: number | null;

  @Field(() => Boolean, { nullable: true, defaultValue: false, description: 'Run every check, commit nothing.' })
  dryRun?: boolean | null;
}

/**
 * What every single-account or transfer posting asks: an amount of an asset, once, with a note. Only
 * the inputs below are reachable from the schema; these bases lend them their fields.
 */
@InputType()
abstract class AmountPostingInput {
  @Field(() => String, { description: 'Asset code.' })
  asset!: string;

  @Field(() => AmountScalar)
  amount!: bigint;

  @Field(() => String)
  idempotencyKey!: string;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => JSONObjectScalar, { nullable: true })
  metadata?: Record<string, unknown> | null;
}

@InputType()
abstract class DryRunnableInput extends AmountPostingInput {
  @Field(() => Boolean, { nullable: true, defaultValue: false, description: 'Run every check, commit nothing.' })
  dryRun?: boolean | null;
}

@InputType()
export class IssueInput extends DryRunnableInput {
  @Field(() => ID)
  accountId!: string;

  @Field(() => DateTimeScalar, {
    nullable: true,
    description: "For an expiring asset: when these points lapse (default: the asset's policy).",
  })
  expiresAt?: Date | null;
}

@InputType()
export class RedeemInput extends DryRunnableInput {
  @Field(() => ID)
  accountId!: string;
}

@InputType()
export class TransferInput extends DryRunnableInput {
  @Field(() => ID)
  fromAccountId!: string;

  @Field(() => ID)
  toAccountId!: string;
}

@InputType()
export class AdjustInput {
  @Field(() => ID)
  accountId!: string;

  @Field(() => String)
  asset!: string;

  @Field(() => AmountScalar)
  amount!: bigint;

  @Field(() => Direction, {
    description: 'The direction of the entry on the account; system:adjustment takes the other side.',
  })
  direction!: Direction;

  @Field(() => String)
  idempotencyKey!: string;

  @Field(() => String)
  reason!: string;
}

@InputType()
export class HoldInput extends AmountPostingInput {
  @Field(() => ID)
  accountId!: string;

  @Field(() => Int, {
    nullable: true,
    description: 'Void the hold automatically after this many seconds (at most 30 days).',
  })
  timeoutSeconds?: number | null;
}

@InputType()
export class PostTransactionsInput {
  @Field(() => Boolean, {
    nullable: true,
    defaultValue: true,
    description: 'All or nothing in one database transaction; false: each item on its own.',
  })
  atomic?: boolean | null;

  @Field(() => [PostTransactionInput], { description: 'At most 1000.' })
  transactions!: PostTransactionInput[];
}
