import { Arg, Ctx, ID, Int, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { AuditEventConnection, AuditEventFilterInput } from './audit.types.js';

@Resolver()
export class AuditResolver {
  @Query(() => AuditEventConnection, { description: "ADMIN: the audit trail of the ledger's whole tree, newest first (needs a credential that reaches the root)." })
  async auditEvents(
    @Ctx() ctx: RequestContext,
    @Arg('ledgerId', () => ID) ledgerId: string,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('filter', () => AuditEventFilterInput, { nullable: true }) filter?: AuditEventFilterInput | null,
  ) {
    ctx.access.require('auditEvents');
    // Audit rows belong to a tree, not to a sub-ledger, so reading them needs reach over the root.
    const root = await ctx.access.visibleTree(ledgerId);
    return ctx.services.audit.list(root.id, filter, first, after);
  }
}
