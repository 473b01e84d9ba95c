import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { AmountScalar, DateTimeScalar, JSONObjectScalar } from '../platform/scalars.js';
import { ConnectionType } from '../platform/pagination.js';

export enum Direction {
  DEBIT = 'DEBIT',
  CREDIT = 'CREDIT',
}
registerEnumType(Direction, { name: 'Direction' });

export enum TransactionKind {
  ISSUE = 'ISSUE',
  REDEEM = 'REDEEM',
  TRANSFER = 'TRANSFER',
  ADJUST = 'ADJUST',
  EXPIRE = 'EXPIRE',
  REVERSAL = 'REVERSAL',
  GENERIC = 'GENERIC',
}
registerEnumType(TransactionKind, { name: 'TransactionKind' });

export enum TransactionStatus {
  PENDING = 'PENDING',
  POSTED = 'POSTED',
  VOIDED = 'VOIDED',
}
registerEnumType(TransactionStatus, { name: 'TransactionStatus' });

@ObjectType({ description: 'An immutable journal entry: balanced entries that commit together.' })
export class Transaction {
  @Field(() => ID)
  id!: string;

  @Field(() => TransactionKind)
  kind!: TransactionKind;

  @Field(() => TransactionStatus)
  status!: TransactionStatus;

  @Field(() => String)
  idempotencyKey!: string;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => JSONObjectScalar)
  metadata!: Record<string, unknown>;

  @Field(() => DateTimeScalar)
  effectiveAt!: Date;

  @Field(() => DateTimeScalar)
  postedAt!: Date;

  @Field(() => DateTimeScalar, {
    nullable: true,
    description: 'For a hold: when the scheduler voids it unless it is posted first.',
  })
  timeoutAt!: Date | null;

  @Field(() => String, {
    nullable: true,
    description:
      'On an event of `transactionPosted(after:)`: the cursor of its feed event (a LedgerEvent cursor). Store it; resubscribe with `after` set to it to continue right after it. Null elsewhere.',
  })
  cursor?: string | null;

  rootLedgerId!: string;
  ledgerId!: string;
  reversalOfId!: string | null;
  requestHash!: string;
  /** A hold: its entries are pending; settled by postPendingTransaction / voidPendingTransaction. */
  isHold!: boolean;
  /** Entries already in hand (a dry run's, which were never committed). */
  draftEntries?: Entry[];
}

@ObjectType('TransactionConnection')
export class TransactionConnection extends ConnectionType('Transaction', Transaction) {}

@ObjectType({ description: 'One line of a transaction: an amount debited or credited to an account.' })
export class Entry {
  @Field(() => ID)
  id!: string;

  @Field(() => Direction)
  direction!: Direction;

  @Field(() => AmountScalar)
  amount!: bigint;

  rootLedgerId!: string;
  transactionId!: string;
  accountId!: string;
  ledgerId!: string;
  assetId!: string;
  effectiveAt!: Date;
  pending!: boolean;
}

@ObjectType('EntryConnection')
export class EntryConnection extends ConnectionType('Entry', Entry) {}

@ObjectType()
export class PostingPayload {
  @Field(() => Transaction)
  transaction!: Transaction;

  @Field(() => Boolean, {
    description: 'True when this answers a repeated idempotency key with the original transaction.',
  })
  replayed!: boolean;

  @Field(() => Boolean, { description: 'True when every check passed and nothing was committed.' })
  dryRun!: boolean;
}

@ObjectType({ description: 'Why one batch item failed.' })
export class LedgerError {
  @Field(() => String)
  code!: string;

  @Field(() => String)
  message!: string;
}

@ObjectType({ description: 'One item of postTransactions: its transaction, or its error.' })
export class BatchPostingResult {
  // Exactly one of transaction and error is set, so neither (nor replayed, which goes with the
  // transaction) can be non-null.
  @Field(() => Transaction, { nullable: true, description: 'The posted transaction; null when error is set.' })
  transaction!: Transaction | null;

  @Field(() => Boolean, {
    nullable: true,
    description: 'Whether the item replayed an earlier posting of its idempotency key; null when error is set.',
  })
  replayed!: boolean | null;

  @Field(() => LedgerError, { nullable: true, description: "The item's error; null when it was posted." })
  error!: LedgerError | null;
}
