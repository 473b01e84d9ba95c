import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, FieldResolver, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { BadInputError, NotFoundError } from '../platform/errors.js';
import { readPage } from '../platform/pagination.js';
import { AmountScalar, DateTimeScalar } from '../platform/scalars.js';
import { balanceDebt } from '../balances/balances.core.js';
import { requireId } from '../platform/validation.js';
import { selectsAny } from '../platform/selection.js';
import { Asset } from '../assets/asset.types.js';
import { Ledger } from '../ledgers/ledger.types.js';
import { ledgerPlacement } from '../authorization/access.core.js';
import { EntryConnection } from '../transactions/transaction.types.js';
import { toBalance } from './account.service.js';
import { Account, AccountConnection, Balance } from './account.types.js';
import { AccountFilterInput, CreateAccountInput, EntryFilterInput, UpdateAccountInput } from './account.inputs.js';
import { assetNotFound } from '../assets/asset.core.js';

const BALANCE_FIELDS = ['balance', 'balances'] as const;

@Resolver(() => Account)
export class AccountResolver {
  @Query(() => Account, { nullable: true, description: 'An account by id, or by ledgerId + code.' })
  async account(
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
    @Arg('id', () => ID, { nullable: true }) id?: string | null,
    @Arg('ledgerId', () => ID, { nullable: true }) ledgerId?: string | null,
    @Arg('code', () => String, { nullable: true }) code?: string | null,
  ): Promise<Account | null> {
    if (id != null) {
      if (ledgerId != null || code != null) throw new BadInputError('give either id, or ledgerId and code');
      // The hot read (an account's balances by id) costs one statement instead of two.
      const loader = selectsAny(info, BALANCE_FIELDS) ? ctx.loaders.accountWithBalances : ctx.loaders.accountById;
      const account = await loader.load(requireId(id, 'id'));
      return account && ctx.access.account(account);
    }
    if (ledgerId == null || code == null) throw new BadInputError('give either id, or ledgerId and code');
    const ledger = await ctx.access.visibleLedger(ledgerId);
    const account = await ctx.services.accounts.findByCode(ledger.rootLedgerId, ledger.id, code);
    return account && ctx.access.account(account);
  }

  @Query(() => AccountConnection, {
    description: "The ledger's own accounts, or its whole subtree's with filter.includeDescendants.",
  })
  async accounts(
    @Ctx() ctx: RequestContext,
    @Arg('ledgerId', () => ID) ledgerId: string,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('filter', () => AccountFilterInput, { nullable: true }) filter?: AccountFilterInput | null,
  ) {
    return ctx.services.accounts.list(await ctx.access.visibleLedgerRef(ledgerId), filter, first, after);
  }

  @Mutation(() => Account)
  createAccount(
    @Ctx() ctx: RequestContext,
    @Arg('input', () => CreateAccountInput) input: CreateAccountInput,
  ): Promise<Account> {
    return ctx.services.accounts.create(ctx.origin, input);
  }

  @Mutation(() => Account)
  updateAccount(
    @Ctx() ctx: RequestContext,
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateAccountInput) input: UpdateAccountInput,
  ): Promise<Account> {
    return ctx.services.accounts.update(ctx.origin, id, input, async (account) =>
      ledgerPlacement((await ctx.loaders.ledgerById.load(account.ledgerId))!),
    );
  }

  @FieldResolver(() => Ledger)
  async ledger(@Root() account: Account, @Ctx() ctx: RequestContext): Promise<Ledger> {
    return ctx.access.ledger((await ctx.loaders.ledgerById.load(account.ledgerId))!);
  }

  @FieldResolver(() => Balance, {
    description:
      'A zero balance when the account never held the asset. With asOf: the balance counting entries effective at or before that instant (version 0: a reconstruction).',
  })
  async balance(
    @Root() account: Account,
    @Ctx() ctx: RequestContext,
    @Arg('asset', () => String) assetCode: string,
    @Arg('asOf', () => DateTimeScalar, { nullable: true }) asOf?: Date | null,
  ): Promise<Balance> {
    const [assets, balances] = await Promise.all([
      ctx.loaders.assetsOfRoot.load(account.rootLedgerId),
      asOf == null
        ? ctx.loaders.balancesOfAccount.load({ rootLedgerId: account.rootLedgerId, accountId: account.id })
        : Promise.resolve([]),
    ]);
    const asset = assets.find((candidate) => candidate.code === assetCode);
    if (asset === undefined) throw assetNotFound(assetCode);
    const owner = {
      rootLedgerId: account.rootLedgerId,
      accountId: account.id,
      assetId: asset.id,
      normalBalance: account.normalBalance,
    };
    if (asOf != null)
      return Object.assign(toBalance(owner, await ctx.services.balanceHistory.asOf(owner, asOf), 0, null), { asOf });
    return (
      balances.find((balance) => balance.assetId === asset.id) ??
      toBalance(owner, { debitsPosted: 0n, creditsPosted: 0n, debitsPending: 0n, creditsPending: 0n }, 0, null)
    );
  }

  @FieldResolver(() => [Balance], { description: 'Every asset the account has held.' })
  balances(@Root() account: Account, @Ctx() ctx: RequestContext): Promise<Balance[]> {
    return ctx.loaders.balancesOfAccount.load({ rootLedgerId: account.rootLedgerId, accountId: account.id });
  }

  @FieldResolver(() => EntryConnection, { description: "The account's journal lines, newest first." })
  async entries(
    @Root() account: Account,
    @Ctx() ctx: RequestContext,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('filter', () => EntryFilterInput, { nullable: true }) filter?: EntryFilterInput | null,
  ) {
    const page = readPage(first, after);
    let assetId: string | null = null;
    if (filter?.asset != null) {
      const asset = (await ctx.loaders.assetsOfRoot.load(account.rootLedgerId)).find(
        (candidate) => candidate.code === filter.asset,
      );
      if (asset === undefined) throw assetNotFound(filter.asset);
      assetId = asset.id;
    }
    return ctx.loaders.entryPages.load({
      rootLedgerId: account.rootLedgerId,
      accountId: account.id,
      page,
      assetId,
      from: filter?.from ?? null,
      to: filter?.to ?? null,
    });
  }
}

@Resolver(() => Balance)
export class BalanceResolver {
  @FieldResolver(() => Account)
  async account(@Root() balance: Balance, @Ctx() ctx: RequestContext): Promise<Account> {
    const account = await ctx.loaders.accountById.load(balance.accountId);
    if (account === null) throw new NotFoundError(`account ${balance.accountId} does not exist`);
    return ctx.access.account(account);
  }

  @FieldResolver(() => Asset)
  async asset(@Root() balance: Balance, @Ctx() ctx: RequestContext): Promise<Asset> {
    return (await ctx.loaders.assetById.load(balance.assetId))!;
  }

  @FieldResolver(() => AmountScalar, {
    description:
      'Clawback debt: what a reversal with allowDebt took beyond the value left (posted is then below zero, or below the overdraft limit). Later credits repay it before anything becomes available.',
  })
  async debt(@Root() balance: Balance, @Ctx() ctx: RequestContext): Promise<bigint> {
    const account = await ctx.loaders.accountById.load(balance.accountId);
    if (account === null) return 0n;
    const floor = account.allowOverdraft ? (account.overdraftLimit === null ? null : -account.overdraftLimit) : 0n;
    return balanceDebt(balance.available, floor);
  }
}
