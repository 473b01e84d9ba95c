import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import { renewLoaders, type RequestContext } from '../context.js';
import { Account } from '../accounts/account.types.js';
import { Transaction } from '../transactions/transaction.types.js';
import { ExternalRecord } from './record.types.js';
import { ExternalSource } from './source.types.js';
import { ResolveReconciliationExceptionInput, RunReconciliationInput } from './run.inputs.js';
import {
  ReconciliationException,
  ReconciliationExceptionConnection,
  ReconciliationExceptionKind,
  ReconciliationExceptionStatus,
  ReconciliationRun,
  ReconciliationRunConnection,
  toException,
  toRun,
} from './run.types.js';

@Resolver(() => ReconciliationRun)
export class ReconciliationRunResolver {
  @Query(() => ReconciliationRun, {
    nullable: true,
    description: "A run, to a credential reaching its source's ledger.",
  })
  async reconciliationRun(
    @Ctx() ctx: RequestContext,
    @Arg('id', () => ID) id: string,
  ): Promise<ReconciliationRun | null> {
    const run = await ctx.services.reconciliationRuns.findById(ctx.origin.principal, id);
    return run === null ? null : toRun(run);
  }

  @Query(() => ReconciliationRunConnection, { description: "The source's runs, newest first." })
  async reconciliationRuns(
    @Ctx() ctx: RequestContext,
    @Arg('sourceId', () => ID) sourceId: string,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
  ) {
    const page = await ctx.services.reconciliationRuns.list(ctx.origin.principal, sourceId, first, after);
    return { ...page, edges: page.edges.map((edge) => ({ cursor: edge.cursor, node: toRun(edge.node) })) };
  }

  @Mutation(() => ReconciliationRun, {
    description:
      "Matches the source's records in [from, to] against the ledger. DRY_RUN needs OPERATOR and writes only its report; COMMIT needs ADMIN and also writes the matches. Idempotent by key. The answer is the finished run (COMPLETED or FAILED).",
  })
  async runReconciliation(
    @Ctx() ctx: RequestContext,
    @Arg('input', () => RunReconciliationInput) input: RunReconciliationInput,
  ): Promise<ReconciliationRun> {
    return toRun(await ctx.services.reconciliationRuns.run(ctx.origin, input));
  }

  @FieldResolver(() => ExternalSource)
  async source(@Root() run: ReconciliationRun, @Ctx() ctx: RequestContext): Promise<ExternalSource> {
    return (await ctx.loaders.externalSourceById.load(run.sourceId))!;
  }

  @FieldResolver(() => ReconciliationExceptionConnection, { description: 'In report order.' })
  async exceptions(
    @Root() run: ReconciliationRun,
    @Ctx() ctx: RequestContext,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('kind', () => ReconciliationExceptionKind, { nullable: true }) kind?: ReconciliationExceptionKind | null,
    @Arg('status', () => ReconciliationExceptionStatus, { nullable: true })
    status?: ReconciliationExceptionStatus | null,
  ) {
    const page = await ctx.services.reconciliationRuns.exceptions(run, first, after, kind ?? null, status ?? null);
    return { ...page, edges: page.edges.map((edge) => ({ cursor: edge.cursor, node: toException(edge.node) })) };
  }

  @Subscription(() => ReconciliationRun, {
    description:
      "The source's runs as they start (RUNNING) and finish (COMPLETED or FAILED). Pushed to subscribers on every instance, whichever instance works the run.",
    // Access is checked before the stream opens, so a refusal is the operation's error, not a broken stream.
    subscribe: ({ args, context }) =>
      (context as RequestContext).services.reconciliationRuns.updates(
        (context as RequestContext).origin.principal,
        args.sourceId as string,
      ),
  })
  reconciliationUpdated(
    @Root() run: import('./run.repository.js').RunRow,
    @Ctx() ctx: RequestContext,
    @Arg('sourceId', () => ID) _sourceId: string,
  ): ReconciliationRun {
    renewLoaders(ctx);
    return toRun(run);
  }
}

@Resolver(() => ReconciliationException)
export class ReconciliationExceptionResolver {
  @Query(() => ReconciliationException, { nullable: true })
  async reconciliationException(
    @Ctx() ctx: RequestContext,
    @Arg('id', () => ID) id: string,
  ): Promise<ReconciliationException | null> {
    const row = await ctx.services.reconciliationResolutions.findById(ctx.origin.principal, id);
    return row === null ? null : toException(row);
  }

  @Mutation(() => ReconciliationException, {
    description:
      'ADMIN only. POST_ADJUSTMENT posts the correcting ADJUST (or the missing movement) in the same database transaction as the resolution and its audit row; MATCH_MANUALLY links the record to transactionId; EXPLAIN closes with the note. Idempotent by key.',
  })
  async resolveReconciliationException(
    @Ctx() ctx: RequestContext,
    @Arg('id', () => ID) id: string,
    @Arg('input', () => ResolveReconciliationExceptionInput) input: ResolveReconciliationExceptionInput,
  ): Promise<ReconciliationException> {
    return toException(await ctx.services.reconciliationResolutions.resolve(ctx.origin, id, input));
  }

  @FieldResolver(() => ReconciliationRun)
  async run(@Root() exception: ReconciliationException, @Ctx() ctx: RequestContext): Promise<ReconciliationRun> {
    return (await ctx.loaders.reconciliationRunById.load(exception.runId))!;
  }

  @FieldResolver(() => ExternalRecord, { nullable: true, description: 'The version of the record the run saw.' })
  async externalRecord(@Root() exception: ReconciliationException, @Ctx() ctx: RequestContext) {
    return exception.recordId === null ? null : ctx.loaders.externalRecordById.load(exception.recordId);
  }

  @FieldResolver(() => Transaction, { nullable: true })
  async transaction(@Root() exception: ReconciliationException, @Ctx() ctx: RequestContext) {
    return transactionOf(ctx, exception.transactionId);
  }

  @FieldResolver(() => Transaction, { nullable: true, description: 'What POST_ADJUSTMENT posted.' })
  async resolutionTransaction(@Root() exception: ReconciliationException, @Ctx() ctx: RequestContext) {
    return transactionOf(ctx, exception.resolutionTransactionId);
  }

  @FieldResolver(() => Account, {
    nullable: true,
    description: 'The account whose line was compared, when there is one.',
  })
  async account(@Root() exception: ReconciliationException, @Ctx() ctx: RequestContext): Promise<Account | null> {
    if (exception.accountId === null) return null;
    const account = await ctx.loaders.accountById.load(exception.accountId);
    return account === null ? null : ctx.access.account(account);
  }
}

async function transactionOf(ctx: RequestContext, id: string | null): Promise<Transaction | null> {
  if (id === null) return null;
  const transaction = await ctx.loaders.transactionById.load(id);
  return transaction === null ? null : ctx.access.transaction(transaction);
}
