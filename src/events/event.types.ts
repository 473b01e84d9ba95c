import { Field, ID, ObjectType } from 'type-graphql';
import { ConnectionType } from '../platform/pagination.js';
import { DateTimeScalar, JSONObjectScalar } from '../platform/scalars.js';
import type { FeedPosition } from './events.core.js';

@ObjectType({
  description:
    'One committed change, from the durable feed: a posting, a void, an account change, a completed reconciliation run or an exception it opened.',
})
export class LedgerEvent {
  @Field(() => ID, { description: 'evt_<n>; also the webhook-id of every delivery of this event.' })
  id!: string;

  @Field(() => String, { description: 'transaction.posted, transaction.voided, account.created, account.updated, …' })
  type!: string;

  @Field(() => String, { description: 'Pass as events(after:) or transactionPosted(after:) to continue after it.' })
  cursor!: string;

  @Field(() => DateTimeScalar)
  occurredAt!: Date;

  @Field(() => JSONObjectScalar, {
    description: "The webhook body's data: { transaction }, { account }, { run } or { exception }.",
  })
  data!: Record<string, unknown>;

  position!: FeedPosition;
  rootLedgerId!: string;
  ledgerId!: string;
  transactionId!: string | null;
  accountId!: string | null;
}

export const LedgerEventConnection = ConnectionType('LedgerEvent', LedgerEvent);
