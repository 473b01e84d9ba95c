import { Arg, Ctx, ID, Mutation, Resolver } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { PostingPayload } from '../transactions/transaction.types.js';
import { AdjustInput, IssueInput, PostTransactionInput, RedeemInput, TransferInput } from './postings.inputs.js';
import type { PostingResult } from './postings.service.js';

const payload = (result: PostingResult) => Object.assign(new PostingPayload(), result);

@Resolver()
export class PostingResolver {
  @Mutation(() => PostingPayload, { description: 'General double-entry posting.' })
  async postTransaction(@Ctx() ctx: RequestContext, @Arg('input', () => PostTransactionInput) input: PostTransactionInput) {
    return payload(await ctx.services.postings.postTransaction(ctx.origin, input));
  }

  @Mutation(() => PostingPayload, { description: 'system:issuance -> account.' })
  async issue(@Ctx() ctx: RequestContext, @Arg('input', () => IssueInput) input: IssueInput) {
    return payload(await ctx.services.postings.issue(ctx.origin, input));
  }

  @Mutation(() => PostingPayload, { description: 'account -> system:redemption.' })
  async redeem(@Ctx() ctx: RequestContext, @Arg('input', () => RedeemInput) input: RedeemInput) {
    return payload(await ctx.services.postings.redeem(ctx.origin, input));
  }

  @Mutation(() => PostingPayload, { description: 'Debits fromAccount, credits toAccount.' })
  async transfer(@Ctx() ctx: RequestContext, @Arg('input', () => TransferInput) input: TransferInput) {
    return payload(await ctx.services.postings.transfer(ctx.origin, input));
  }

  @Mutation(() => PostingPayload, { description: 'Against system:adjustment; ADMIN only.' })
  async adjust(@Ctx() ctx: RequestContext, @Arg('input', () => AdjustInput) input: AdjustInput) {
    return payload(await ctx.services.postings.adjust(ctx.origin, input));
  }

  @Mutation(() => PostingPayload, { description: 'Posts the mirror image of a POSTED transaction; ADMIN only; at most once.' })
  async reverseTransaction(
    @Ctx() ctx: RequestContext,
    @Arg('id', () => ID) id: string,
    @Arg('idempotencyKey', () => String) idempotencyKey: string,
    @Arg('reason', () => String, { nullable: true }) reason?: string | null,
  ) {
    return payload(await ctx.services.postings.reverse(ctx.origin, id, idempotencyKey, reason));
  }
}
