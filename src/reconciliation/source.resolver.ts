import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { Ledger } from '../ledgers/ledger.types.js';
import { CreateExternalSourceInput, CreateMatchRuleInput } from './source.inputs.js';
import { ExternalSource, ExternalSourceConnection, MatchRule } from './source.types.js';

@Resolver(() => ExternalSource)
export class ExternalSourceResolver {
  @Query(() => ExternalSource, { nullable: true, description: "Anyone who may read the source's ledger." })
  externalSource(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string): Promise<ExternalSource | null> {
    return ctx.services.reconciliationSources.findById(ctx.origin, id);
  }

  @Query(() => ExternalSourceConnection, { description: "The sources of the ledger's subtree, oldest first." })
  async externalSources(
    @Ctx() ctx: RequestContext,
    @Arg('ledgerId', () => ID) ledgerId: string,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
  ) {
    ctx.access.require('externalSources');
    const ledger = await ctx.access.visibleLedgerRef(ledgerId);
    return ctx.services.reconciliationSources.list(ctx.origin, ledger, first, after);
  }

  @Mutation(() => ExternalSource, { description: 'ADMIN over the ledger.' })
  createExternalSource(
    @Ctx() ctx: RequestContext,
    @Arg('input', () => CreateExternalSourceInput) input: CreateExternalSourceInput,
  ): Promise<ExternalSource> {
    return ctx.services.reconciliationSources.create(ctx.origin, input);
  }

  @Mutation(() => MatchRule, {
    description:
      "ADMIN over the source's ledger. Bumps the source's rulesVersion; a taken priority retires the old rule.",
  })
  createMatchRule(
    @Ctx() ctx: RequestContext,
    @Arg('input', () => CreateMatchRuleInput) input: CreateMatchRuleInput,
  ): Promise<MatchRule> {
    return ctx.services.reconciliationSources.createRule(ctx.origin, input);
  }

  @FieldResolver(() => Ledger)
  async ledger(@Root() source: ExternalSource, @Ctx() ctx: RequestContext): Promise<Ledger> {
    return ctx.access.ledger((await ctx.loaders.ledgerById.load(source.ledgerId))!);
  }

  @FieldResolver(() => [MatchRule], { description: 'The rules in force, in priority order.' })
  rules(@Root() source: ExternalSource, @Ctx() ctx: RequestContext): Promise<MatchRule[]> {
    return ctx.loaders.activeRulesOfSource.load(source.id);
  }
}
