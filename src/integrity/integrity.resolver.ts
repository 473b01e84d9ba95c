import { Arg, Ctx, ID, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { IntegrityReport } from './integrity.types.js';

@Resolver()
export class IntegrityResolver {
  @Query(() => IntegrityReport, { description: "Recomputes the ledger's root tree from its journal and lists every disagreement." })
  async ledgerIntegrity(@Ctx() ctx: RequestContext, @Arg('ledgerId', () => ID) ledgerId: string): Promise<IntegrityReport> {
    // The report covers a whole tree, so it needs a credential that reaches the root.
    const root = await ctx.access.visibleTree(ledgerId);
    return ctx.services.integrity.report(root.id);
  }
}
