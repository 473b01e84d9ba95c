import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { AssetNotFoundError } from '../platform/errors.js';
import { DateTimeScalar } from '../platform/scalars.js';
import { requireRole } from '../authorization/access.core.js';
import { Account } from '../accounts/account.types.js';
import { Asset } from '../assets/asset.types.js';
import { visibleLedger } from '../authorization/access.js';
import { Transaction } from '../transactions/transaction.types.js';
import { ExpiringAmount, ExpiryRun, Lot } from './lot.types.js';

async function assetIdOf(ctx: RequestContext, rootLedgerId: string, code: string): Promise<string> {
  const asset = (await ctx.loaders.assetsOfRoot.load(rootLedgerId)).find((candidate) => candidate.code === code);
  if (asset === undefined) throw new AssetNotFoundError(`asset ${code} is not defined in this ledger tree`);
  return asset.id;
}

@Resolver(() => Account)
export class AccountLotsResolver {
  @FieldResolver(() => [Lot], { description: 'Open lots, soonest expiry first, never-expiring last (at most 500).' })
  async lots(
    @Root() account: Account,
    @Ctx() ctx: RequestContext,
    @Arg('asset', () => String, { nullable: true }) asset?: string | null,
    @Arg('includeClosed', () => Boolean, { nullable: true, defaultValue: false }) includeClosed?: boolean | null,
  ): Promise<Lot[]> {
    const assetId = asset == null ? null : await assetIdOf(ctx, account.rootLedgerId, asset);
    return ctx.services.lots.list(account, assetId, includeClosed ?? false);
  }

  @FieldResolver(() => [ExpiringAmount], { description: 'What lapses within the window, grouped by expiry instant.' })
  async expiring(
    @Root() account: Account,
    @Ctx() ctx: RequestContext,
    @Arg('asset', () => String) asset: string,
    @Arg('withinDays', () => Int) withinDays: number,
  ): Promise<ExpiringAmount[]> {
    return ctx.services.lots.expiring(account, await assetIdOf(ctx, account.rootLedgerId, asset), withinDays);
  }
}

@Resolver(() => Lot)
export class LotResolver {
  @FieldResolver(() => Asset)
  async asset(@Root() lot: Lot, @Ctx() ctx: RequestContext): Promise<Asset> {
    return (await ctx.loaders.assetById.load(lot.assetId))!;
  }

  @FieldResolver(() => Transaction)
  async sourceTransaction(@Root() lot: Lot, @Ctx() ctx: RequestContext): Promise<Transaction> {
    return (await ctx.loaders.transactionById.load(lot.sourceTransactionId))!;
  }
}

@Resolver()
export class ExpiryResolver {
  @Mutation(() => ExpiryRun, { description: 'ADMIN: expires lapsed lots in the ledger subtree as of asOf (default now); repeated runs post nothing new.' })
  async runExpiry(
    @Ctx() ctx: RequestContext,
    @Arg('ledgerId', () => ID) ledgerId: string,
    @Arg('asOf', () => DateTimeScalar, { nullable: true }) asOf?: Date | null,
  ): Promise<ExpiryRun> {
    requireRole(ctx.origin.principal, 'ADMIN', 'runExpiry');
    const ledger = await visibleLedger(ctx, ledgerId);
    const transactionsPosted = await ctx.services.expiry.run(ctx.origin, ledger, asOf ?? new Date());
    return Object.assign(new ExpiryRun(), { transactionsPosted });
  }
}
