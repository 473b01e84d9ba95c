import { Arg, Ctx, ID, Resolver, Root, Subscription } from 'type-graphql';
import { renewLoaders, type RequestContext } from '../context.js';
import { Balance } from '../accounts/account.types.js';
import { Transaction } from '../transactions/transaction.types.js';

interface BalanceArgs {
  accountId: string;
  asset?: string | null;
  includeCurrent?: boolean | null;
  after?: string | null;
}
interface TransactionArgs {
  ledgerId?: string | null;
  accountId?: string | null;
  after?: string | null;
}

const AFTER_DESCRIPTION =
  'Resume: a LedgerEvent cursor (from `events`, or the `cursor` of an event this subscription sent), or "now" to start at the head. First replays from the durable feed what followed it, then continues live, in feed order, with no gap and no duplicate; every event then carries its `cursor`. A live event waits until every older write transaction has finished. Without `after`: live only, as soon as each posting commits, with no cursor.';

/**
 * Live ledger events over WebSocket. `subscribe` authorizes and opens the event stream once; the method
 * body runs for every event, with fresh loaders, and its field resolvers check access again.
 */
@Resolver()
export class SubscriptionResolver {
  @Subscription(() => Balance, {
    description:
      "The account's balance after every committed change, in one asset or all; `version` grows by one per change, so a gap means a missed event.",
    subscribe: ({ args, context }) => {
      const { accountId, asset, includeCurrent, after } = args as BalanceArgs;
      return (context as RequestContext).services.subscriptions.balanceUpdates(
        context as RequestContext,
        accountId,
        asset,
        includeCurrent ?? false,
        after ?? null,
      );
    },
  })
  balanceUpdated(
    @Root() balance: Balance,
    @Ctx() ctx: RequestContext,
    @Arg('accountId', () => ID) _accountId: string,
    @Arg('asset', () => String, { nullable: true }) _asset?: string | null,
    @Arg('includeCurrent', () => Boolean, {
      defaultValue: false,
      description:
        'Send the current balance first (then every change), so a client needs no separate query and misses nothing in between.',
    })
    _includeCurrent?: boolean,
    @Arg('after', () => String, {
      nullable: true,
      description: `${AFTER_DESCRIPTION} For balances: one event per page of feed postings that changed the balance, so \`version\` may then grow by more than one without a missed change; the cursor proves continuity. After resuming, ignore a balance whose version is not newer than the one held.`,
    })
    _after?: string | null,
  ): Balance {
    renewLoaders(ctx);
    return balance;
  }

  @Subscription(() => Transaction, {
    description:
      "Every committed transaction touching the account, or any account in the ledger's subtree (without arguments: all the credential may see).",
    subscribe: ({ args, context }) =>
      (context as RequestContext).services.subscriptions.transactionPosts(
        context as RequestContext,
        (args as TransactionArgs).ledgerId,
        (args as TransactionArgs).accountId,
        (args as TransactionArgs).after ?? null,
      ),
  })
  transactionPosted(
    @Root() transaction: Transaction,
    @Ctx() ctx: RequestContext,
    @Arg('ledgerId', () => ID, { nullable: true }) _ledgerId?: string | null,
    @Arg('accountId', () => ID, { nullable: true }) _accountId?: string | null,
    @Arg('after', () => String, {
      nullable: true,
      description: `${AFTER_DESCRIPTION} Needs ledgerId or accountId (or a credential scoped to one ledger).`,
    })
    _after?: string | null,
  ): Transaction {
    renewLoaders(ctx);
    return transaction;
  }
}
