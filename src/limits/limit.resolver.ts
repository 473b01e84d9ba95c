import { Arg, Ctx, FieldResolver, ID, Mutation, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { Account } from '../accounts/account.types.js';
import { Asset } from '../assets/asset.types.js';
import { Ledger } from '../ledgers/ledger.types.js';
import { CreateLimitInput } from './limit.inputs.js';
import { Limit, LimitUsage } from './limit.types.js';

@Resolver(() => Limit)
export class LimitResolver {
  @Mutation(() => Limit, {
    description:
      'ADMIN: a cap per calendar period or a balance ceiling for every customer account of the ledger’s subtree, enforced inside each posting (LIMIT_EXCEEDED).',
  })
  createLimit(@Ctx() ctx: RequestContext, @Arg('input', () => CreateLimitInput) input: CreateLimitInput) {
    return ctx.services.limits.create(ctx.origin, input);
  }

  @Mutation(() => Limit, { description: 'ADMIN: ends a limit; what it counted stays counted for its reversals.' })
  deleteLimit(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string) {
    return ctx.services.limits.delete(ctx.origin, id);
  }

  @FieldResolver(() => Ledger)
  async ledger(@Root() limit: Limit, @Ctx() ctx: RequestContext): Promise<Ledger> {
    return ctx.access.ledger((await ctx.loaders.ledgerById.load(limit.ledgerId))!);
  }

  @FieldResolver(() => Asset)
  async asset(@Root() limit: Limit, @Ctx() ctx: RequestContext): Promise<Asset> {
    return (await ctx.loaders.assetById.load(limit.assetId))!;
  }
}

@Resolver(() => Account)
export class AccountLimitsResolver {
  @FieldResolver(() => [LimitUsage], {
    description: 'The limits that bind this account (those of its ledger and every ledger above), as they stand now.',
  })
  async limits(@Root() account: Account, @Ctx() ctx: RequestContext): Promise<LimitUsage[]> {
    const [usage] = await ctx.services.limits.usageOf([
      {
        rootLedgerId: account.rootLedgerId,
        accountId: account.id,
        ledgerId: account.ledgerId,
        isSystem: account.isSystem,
      },
    ]);
    return usage ?? [];
  }
}
