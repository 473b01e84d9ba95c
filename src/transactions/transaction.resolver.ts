import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { NotFoundError } from '../platform/errors.js';
import { requireId } from '../platform/validation.js';
import { Account } from '../accounts/account.types.js';
import { Asset } from '../assets/asset.types.js';
import { Ledger } from '../ledgers/ledger.types.js';
import { Entry, Transaction, TransactionConnection } from './transaction.types.js';
import { TransactionFilterInput } from './transaction.inputs.js';

@Resolver(() => Transaction)
export class TransactionResolver {
  @Query(() => Transaction, { nullable: true })
  async transaction(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string): Promise<Transaction | null> {
    const transaction = await ctx.loaders.transactionById.load(requireId(id, 'id'));
    return transaction && ctx.access.transaction(transaction);
  }

  @Query(() => TransactionConnection, { description: 'Transactions touching an account anywhere in the ledger\'s subtree, newest first.' })
  async transactions(
    @Ctx() ctx: RequestContext,
    @Arg('ledgerId', () => ID) ledgerId: string,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('filter', () => TransactionFilterInput, { nullable: true }) filter?: TransactionFilterInput | null,
  ) {
    const ledger = await ctx.access.visibleLedgerRef(ledgerId);
    return ctx.services.transactions.list(ledger, filter && { ...filter, accountId: filter.accountId && requireId(filter.accountId, 'filter.accountId') }, first, after);
  }

  @FieldResolver(() => Ledger, { description: 'The ledger the transaction was posted in.' })
  async ledger(@Root() transaction: Transaction, @Ctx() ctx: RequestContext): Promise<Ledger> {
    return ctx.access.ledger((await ctx.loaders.ledgerById.load(transaction.ledgerId))!);
  }

  @FieldResolver(() => [Entry], { description: 'Every line; to a customer token, only the lines of its own account.' })
  async entries(@Root() transaction: Transaction, @Ctx() ctx: RequestContext): Promise<Entry[]> {
    return ctx.access.entries(transaction.draftEntries ?? (await ctx.loaders.entriesOfTransaction.load(transaction.id)));
  }

  @FieldResolver(() => Transaction, { nullable: true, description: 'For a hold that was posted: the transaction that captured it.' })
  async capturedBy(@Root() transaction: Transaction, @Ctx() ctx: RequestContext): Promise<Transaction | null> {
    if (!transaction.isHold) return null;
    const settlement = (await ctx.loaders.settlementsOf.load(transaction.id)).find((row) => row.holdId === transaction.id);
    return settlement?.captureId ? ctx.loaders.transactionById.load(settlement.captureId) : null;
  }

  @FieldResolver(() => Transaction, { nullable: true, description: 'For a capture: the hold it posted.' })
  async capturedHold(@Root() transaction: Transaction, @Ctx() ctx: RequestContext): Promise<Transaction | null> {
    if (transaction.isHold) return null;
    const settlement = (await ctx.loaders.settlementsOf.load(transaction.id)).find((row) => row.captureId === transaction.id);
    return settlement ? ctx.loaders.transactionById.load(settlement.holdId) : null;
  }

  @FieldResolver(() => Transaction, { nullable: true })
  reversalOf(@Root() transaction: Transaction, @Ctx() ctx: RequestContext): Promise<Transaction | null> {
    return transaction.reversalOfId === null ? Promise.resolve(null) : ctx.loaders.transactionById.load(transaction.reversalOfId);
  }

  @FieldResolver(() => Transaction, { nullable: true })
  async reversedBy(@Root() transaction: Transaction, @Ctx() ctx: RequestContext): Promise<Transaction | null> {
    const [reversal] = await ctx.loaders.reversalOf.load({ rootLedgerId: transaction.rootLedgerId, id: transaction.id });
    return reversal ?? null;
  }
}

@Resolver(() => Entry)
export class EntryResolver {
  @FieldResolver(() => Transaction)
  async transaction(@Root() entry: Entry, @Ctx() ctx: RequestContext): Promise<Transaction> {
    return (await ctx.loaders.transactionById.load(entry.transactionId))!;
  }

  @FieldResolver(() => Account)
  async account(@Root() entry: Entry, @Ctx() ctx: RequestContext): Promise<Account> {
    const account = await ctx.loaders.accountById.load(entry.accountId);
    if (account === null) throw new NotFoundError(`account ${entry.accountId} does not exist`);
    return ctx.access.account(account);
  }

  @FieldResolver(() => Asset)
  async asset(@Root() entry: Entry, @Ctx() ctx: RequestContext): Promise<Asset> {
    return (await ctx.loaders.assetById.load(entry.assetId))!;
  }
}
