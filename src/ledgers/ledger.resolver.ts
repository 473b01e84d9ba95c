import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { BadInputError, NotFoundError } from '../platform/errors.js';
import { requireId } from '../platform/validation.js';
import { Asset } from '../assets/asset.types.js';
import { AccountConnection } from '../accounts/account.types.js';
import { AccountFilterInput } from '../accounts/account.inputs.js';
import { TransactionConnection } from '../transactions/transaction.types.js';
import { TransactionFilterInput } from '../transactions/transaction.inputs.js';
import { Ledger, LedgerBalance, LedgerConnection } from './ledger.types.js';
import { CreateLedgerInput } from './ledger.inputs.js';

@Resolver(() => Ledger)
export class LedgerResolver {
  @Query(() => Ledger, { nullable: true, description: 'A ledger by id, or by code (root codes are global; sub-ledger codes within a scoped credential\'s tree).' })
  async ledger(
    @Ctx() ctx: RequestContext,
    @Arg('id', () => ID, { nullable: true }) id?: string | null,
    @Arg('code', () => String, { nullable: true }) code?: string | null,
  ): Promise<Ledger | null> {
    if ((id == null) === (code == null)) throw new BadInputError('give exactly one of id and code');
    const ledger = id != null ? await ctx.loaders.ledgerById.load(requireId(id, 'id')) : await ctx.services.ledgers.findByCode(ctx.origin.principal, code!);
    return ledger && ctx.access.ledger(ledger);
  }

  @Query(() => LedgerConnection, { description: 'Root ledgers visible to the caller (for a scoped key: the ledger at the top of its scope).' })
  ledgers(
    @Ctx() ctx: RequestContext,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
  ) {
    return ctx.services.ledgers.listVisibleRoots(ctx.origin.principal, first, after);
  }

  @Mutation(() => Ledger)
  createLedger(@Ctx() ctx: RequestContext, @Arg('input', () => CreateLedgerInput) input: CreateLedgerInput): Promise<Ledger> {
    return ctx.services.ledgers.create(ctx.origin, input);
  }

  @FieldResolver(() => Ledger, { nullable: true })
  async parent(@Root() ledger: Ledger, @Ctx() ctx: RequestContext): Promise<Ledger | null> {
    if (ledger.parentId === null) return null;
    return ctx.access.ledger((await ctx.loaders.ledgerById.load(ledger.parentId))!);
  }

  @FieldResolver(() => Ledger)
  async root(@Root() ledger: Ledger, @Ctx() ctx: RequestContext): Promise<Ledger> {
    if (ledger.parentId === null) return ledger;
    return ctx.access.ledger((await ctx.loaders.ledgerById.load(ledger.rootLedgerId))!);
  }

  @FieldResolver(() => LedgerConnection)
  children(
    @Root() ledger: Ledger,
    @Ctx() ctx: RequestContext,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
  ) {
    return ctx.services.ledgers.children(ledger, first, after);
  }

  @FieldResolver(() => [Asset], { description: 'Assets defined on this ledger\'s root, usable throughout the tree.' })
  assets(@Root() ledger: Ledger, @Ctx() ctx: RequestContext): Promise<Asset[]> {
    return ctx.loaders.assetsOfRoot.load(ledger.rootLedgerId);
  }

  @FieldResolver(() => AccountConnection)
  accounts(
    @Root() ledger: Ledger,
    @Ctx() ctx: RequestContext,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('filter', () => AccountFilterInput, { nullable: true }) filter?: AccountFilterInput | null,
  ) {
    return ctx.services.accounts.list(ledger, filter, first, after);
  }

  @FieldResolver(() => TransactionConnection, { description: 'Transactions touching an account anywhere in this subtree, newest first.' })
  transactions(
    @Root() ledger: Ledger,
    @Ctx() ctx: RequestContext,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('filter', () => TransactionFilterInput, { nullable: true }) filter?: TransactionFilterInput | null,
  ) {
    return ctx.services.transactions.list(ledger, filter && { ...filter, accountId: filter.accountId && requireId(filter.accountId, 'filter.accountId') }, first, after);
  }

  @FieldResolver(() => [LedgerBalance], { description: 'Per asset, this ledger and all its descendants.' })
  balances(@Root() ledger: Ledger, @Ctx() ctx: RequestContext): Promise<LedgerBalance[]> {
    return ctx.loaders.ledgerBalances.load(ledger.id);
  }
}

@Resolver(() => LedgerBalance)
export class LedgerBalanceResolver {
  @FieldResolver(() => Asset)
  async asset(@Root() balance: LedgerBalance, @Ctx() ctx: RequestContext): Promise<Asset> {
    const asset = await ctx.loaders.assetById.load(balance.assetId);
    if (asset === null) throw new NotFoundError(`asset ${balance.assetId} does not exist`);
    return asset;
  }
}
