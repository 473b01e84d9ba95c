import { Arg, Ctx, ID, Mutation, Resolver } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { classifyError } from '../platform/graphql-errors.js';
import { AmountScalar } from '../platform/scalars.js';
import { BatchPostingResult, LedgerError, PostingPayload } from '../transactions/transaction.types.js';
import {
  AdjustInput,
  HoldInput,
  IssueInput,
  PostTransactionInput,
  PostTransactionsInput,
  RedeemInput,
  TransferInput,
} from './postings.inputs.js';
import type { PostingResult } from './posting-engine.js';

const payload = (result: PostingResult) => Object.assign(new PostingPayload(), result);

@Resolver()
export class PostingResolver {
  @Mutation(() => PostingPayload, { description: 'General double-entry posting; pending: true makes a hold.' })
  async postTransaction(
    @Ctx() ctx: RequestContext,
    @Arg('input', () => PostTransactionInput) input: PostTransactionInput,
  ) {
    return payload(await ctx.services.postings.postTransaction(ctx.origin, input));
  }

  @Mutation(() => [BatchPostingResult], {
    description: 'Up to 1000 postings; atomic (default) is all or nothing, otherwise each item is reported on its own.',
  })
  async postTransactions(
    @Ctx() ctx: RequestContext,
    @Arg('input', () => PostTransactionsInput) input: PostTransactionsInput,
  ) {
    const results = await ctx.services.postings.postTransactions(ctx.origin, input.transactions, input.atomic ?? true);
    return results.map((result) => {
      if (!(result instanceof Error))
        return Object.assign(new BatchPostingResult(), {
          transaction: result.transaction,
          replayed: result.replayed,
          error: null,
        });
      const { code, message } = classifyError(result);
      return Object.assign(new BatchPostingResult(), {
        transaction: null,
        replayed: null,
        error: Object.assign(new LedgerError(), { code, message }),
      });
    });
  }

  @Mutation(() => PostingPayload, { description: 'system:issuance -> account.' })
  async issue(@Ctx() ctx: RequestContext, @Arg('input', () => IssueInput) input: IssueInput) {
    return payload(await ctx.services.postings.issue(ctx.origin, input));
  }

  @Mutation(() => PostingPayload, { description: 'account -> system:redemption.' })
  async redeem(@Ctx() ctx: RequestContext, @Arg('input', () => RedeemInput) input: RedeemInput) {
    return payload(await ctx.services.postings.redeem(ctx.origin, input));
  }

  @Mutation(() => PostingPayload, {
    description: 'A pending REDEEM: reserves the amount (it leaves `available`) until posted, voided or timed out.',
  })
  async hold(@Ctx() ctx: RequestContext, @Arg('input', () => HoldInput) input: HoldInput) {
    return payload(await ctx.services.postings.hold(ctx.origin, input));
  }

  @Mutation(() => PostingPayload, {
    description:
      'Captures a hold in full, or partially (two-entry holds) with a smaller amount; the rest is released. Returns the capture.',
  })
  async postPendingTransaction(
    @Ctx() ctx: RequestContext,
    @Arg('id', () => ID) id: string,
    @Arg('idempotencyKey', () => String) idempotencyKey: string,
    @Arg('amount', () => AmountScalar, { nullable: true }) amount?: bigint | null,
  ) {
    return payload(await ctx.services.postings.postPending(ctx.origin, id, idempotencyKey, amount ?? null));
  }

  @Mutation(() => PostingPayload, { description: 'Releases a hold. Returns the hold, now VOIDED.' })
  async voidPendingTransaction(
    @Ctx() ctx: RequestContext,
    @Arg('id', () => ID) id: string,
    @Arg('idempotencyKey', () => String) idempotencyKey: string,
  ) {
    return payload(await ctx.services.postings.voidPending(ctx.origin, id, idempotencyKey));
  }

  @Mutation(() => PostingPayload, { description: 'Debits fromAccount, credits toAccount.' })
  async transfer(@Ctx() ctx: RequestContext, @Arg('input', () => TransferInput) input: TransferInput) {
    return payload(await ctx.services.postings.transfer(ctx.origin, input));
  }

  @Mutation(() => PostingPayload, { description: 'Against system:adjustment; ADMIN only.' })
  async adjust(@Ctx() ctx: RequestContext, @Arg('input', () => AdjustInput) input: AdjustInput) {
    return payload(await ctx.services.postings.adjust(ctx.origin, input));
  }

  @Mutation(() => PostingPayload, {
    description: 'Posts the mirror image of a POSTED transaction; ADMIN only; at most once.',
  })
  async reverseTransaction(
    @Ctx() ctx: RequestContext,
    @Arg('id', () => ID) id: string,
    @Arg('idempotencyKey', () => String) idempotencyKey: string,
    @Arg('reason', () => String, { nullable: true }) reason?: string | null,
    @Arg('allowDebt', () => Boolean, {
      nullable: true,
      defaultValue: false,
      description:
        'Where value it takes back was already spent, leave the shortfall as Balance.debt (posted below zero) instead of refusing with INSUFFICIENT_FUNDS; later credits repay it first.',
    })
    allowDebt?: boolean | null,
  ) {
    return payload(await ctx.services.postings.reverse(ctx.origin, id, idempotencyKey, reason, allowDebt ?? false));
  }
}
