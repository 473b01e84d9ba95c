import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { Asset } from '../assets/asset.types.js';
import { Transaction } from '../transactions/transaction.types.js';
import { ImportExternalRecordsInput } from './import.inputs.js';
import { ImportResult } from './import.types.js';
import { ExternalRecordStatus } from './reconciliation.enums.js';
import { ExternalRecord, ExternalRecordConnection } from './record.types.js';
import { ExternalSource } from './source.types.js';

@Resolver(() => ExternalRecord)
export class ExternalRecordResolver {
  @Query(() => ExternalRecordConnection, {
    description:
      "The source's current records by id; with externalId, every version of that record. Anyone who may read the source's ledger.",
  })
  externalRecords(
    @Ctx() ctx: RequestContext,
    @Arg('sourceId', () => ID) sourceId: string,
    @Arg('status', () => ExternalRecordStatus, { nullable: true }) status?: ExternalRecordStatus | null,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('externalId', () => String, { nullable: true }) externalId?: string | null,
  ) {
    return ctx.services.reconciliationRecords.list(ctx.origin, sourceId, { status, externalId }, first, after);
  }

  @Mutation(() => ImportResult, {
    description:
      "OPERATOR over the source's ledger; at most 1,000 records (POST /reconciliation/sources/{id}/records streams more).",
  })
  importExternalRecords(
    @Ctx() ctx: RequestContext,
    @Arg('input', () => ImportExternalRecordsInput) input: ImportExternalRecordsInput,
  ): Promise<ImportResult> {
    return ctx.services.reconciliationImports.importRecords(ctx.origin, input);
  }

  @FieldResolver(() => ExternalSource)
  async source(@Root() record: ExternalRecord, @Ctx() ctx: RequestContext): Promise<ExternalSource> {
    return (await ctx.loaders.externalSourceById.load(record.sourceId))!;
  }

  @FieldResolver(() => Asset)
  async asset(@Root() record: ExternalRecord, @Ctx() ctx: RequestContext): Promise<Asset> {
    return (await ctx.loaders.assetById.load(record.assetId))!;
  }

  @FieldResolver(() => Transaction, { nullable: true, description: 'The ledger transaction it is matched to, if any.' })
  async matchedTransaction(@Root() record: ExternalRecord, @Ctx() ctx: RequestContext): Promise<Transaction | null> {
    const id = await ctx.loaders.matchedTransactionOfRecord.load(record.id);
    if (id === null) return null;
    const transaction = await ctx.loaders.transactionById.load(id);
    return transaction === null ? null : ctx.access.transaction(transaction);
  }
}
