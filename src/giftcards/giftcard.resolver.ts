import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { NotFoundError } from '../platform/errors.js';
import { Account, Balance } from '../accounts/account.types.js';
import { Asset } from '../assets/asset.types.js';
import { PostingPayload } from '../transactions/transaction.types.js';
import type { GiftCardRow } from './giftcard.repository.js';
import { GiftCard, GiftCardStatus, IssuedGiftCard } from './giftcard.types.js';
import { IssueGiftCardInput, RedeemGiftCardInput } from './giftcard.inputs.js';

const cardOf = (row: GiftCardRow) =>
  Object.assign(new GiftCard(), {
    id: row.id,
    last4: row.last4,
    status: row.status as GiftCardStatus,
    expiresAt: row.expiresAt,
    rootLedgerId: row.rootLedgerId,
    ledgerId: row.ledgerId,
    accountId: row.accountId,
    assetId: row.assetId,
  });

@Resolver(() => GiftCard)
export class GiftCardResolver {
  @Mutation(() => IssuedGiftCard, {
    description:
      'Creates a gift card with the amount on it; its code and PIN are in this answer only. A replay masks them. OPERATOR.',
  })
  async issueGiftCard(@Ctx() ctx: RequestContext, @Arg('input', () => IssueGiftCardInput) input: IssueGiftCardInput) {
    const issued = await ctx.services.giftCards.issue(ctx.origin, input);
    return Object.assign(new IssuedGiftCard(), issued, { card: cardOf(issued.card) });
  }

  @Mutation(() => PostingPayload, {
    description: 'Takes amount (all or part of the balance) off the card whose code and PIN are given. OPERATOR.',
  })
  async redeemGiftCard(
    @Ctx() ctx: RequestContext,
    @Arg('input', () => RedeemGiftCardInput) input: RedeemGiftCardInput,
  ) {
    return Object.assign(new PostingPayload(), await ctx.services.giftCards.redeem(ctx.origin, input));
  }

  @Mutation(() => GiftCard, { description: 'Lifts the lock five wrong PINs put on a card. ADMIN.' })
  async unlockGiftCard(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string) {
    return cardOf(await ctx.services.giftCards.unlock(ctx.origin, id));
  }

  @Query(() => Balance, {
    description:
      'The balance on the card whose code and PIN are given; a wrong code and a wrong PIN get the same NOT_FOUND. OPERATOR.',
  })
  async giftCardBalance(
    @Ctx() ctx: RequestContext,
    @Arg('code', () => String) code: string,
    @Arg('pin', () => String) pin: string,
  ) {
    return ctx.services.giftCards.balance(ctx.origin, code, pin);
  }

  @Query(() => GiftCard, { description: 'A card by id: its status and expiry, never its code. OPERATOR.' })
  async giftCard(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string) {
    return cardOf(await ctx.services.giftCards.findById(ctx.origin, id));
  }

  @FieldResolver(() => Account)
  async account(@Root() card: GiftCard, @Ctx() ctx: RequestContext): Promise<Account> {
    const account = await ctx.loaders.accountById.load(card.accountId);
    if (account === null) throw new NotFoundError(`account ${card.accountId} does not exist`);
    return ctx.access.account(account);
  }

  @FieldResolver(() => Asset, { description: 'What the card holds.' })
  async asset(@Root() card: GiftCard, @Ctx() ctx: RequestContext): Promise<Asset> {
    return (await ctx.loaders.assetById.load(card.assetId))!;
  }
}
