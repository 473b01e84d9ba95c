import { Arg, Ctx, FieldResolver, Int, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { Account } from '../accounts/account.types.js';
import { Asset } from '../assets/asset.types.js';
import { Transaction } from '../transactions/transaction.types.js';
import { ExpiringAmount, Lot } from './lot.types.js';
import { assetNotFound } from '../assets/asset.core.js';

async function assetIdOf(ctx: RequestContext, rootLedgerId: string, code: string): Promise<string> {
  const asset = (await ctx.loaders.assetsOfRoot.load(rootLedgerId)).find((candidate) => candidate.code === code);
  if (asset === undefined) throw assetNotFound(code);
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
