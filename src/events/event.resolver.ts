import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { Ledger } from '../ledgers/ledger.types.js';
import { Transaction } from '../transactions/transaction.types.js';
import { readEventTypes } from './events.core.js';
import { LedgerEvent, LedgerEventConnection } from './event.types.js';

@Resolver(() => LedgerEvent)
export class LedgerEventResolver {
  @Query(() => LedgerEventConnection, {
    description:
      "The durable event feed of the ledger's subtree, oldest first. Paging with `after` never misses or repeats a committed event.",
  })
  async events(
    @Ctx() ctx: RequestContext,
    @Arg('ledgerId', () => ID) ledgerId: string,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('types', () => [String], { nullable: true }) types?: string[] | null,
  ) {
    ctx.access.require('events');
    const ledger = await ctx.access.visibleLedgerRef(ledgerId);
    return ctx.services.events.page(
      { rootLedgerId: ledger.rootLedgerId, ledgerId: ledger.id },
      after,
      first,
      readEventTypes(types, 'types'),
    );
  }

  @FieldResolver(() => Ledger, { description: 'The ledger of the transaction or account.' })
  async ledger(@Root() event: LedgerEvent, @Ctx() ctx: RequestContext): Promise<Ledger> {
    return ctx.access.ledger((await ctx.loaders.ledgerById.load(event.ledgerId))!);
  }

  @FieldResolver(() => Transaction, { nullable: true, description: 'The transaction of a transaction.* event.' })
  async transaction(@Root() event: LedgerEvent, @Ctx() ctx: RequestContext): Promise<Transaction | null> {
    if (event.transactionId === null) return null;
    const transaction = await ctx.loaders.transactionById.load(event.transactionId);
    return transaction && ctx.access.transaction(transaction);
  }
}
