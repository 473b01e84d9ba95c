import { Arg, Ctx, Field, ID, Int, Mutation, ObjectType, Resolver } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { DateTimeScalar } from '../platform/scalars.js';
import { requireRole } from '../authorization/access.core.js';
import { visibleLedger } from '../authorization/access.js';

@ObjectType()
export class ExpiryRun {
  @Field(() => Int)
  transactionsPosted!: number;
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
