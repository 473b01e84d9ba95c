import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { ConversionPayload, ExchangeRate } from './conversion.types.js';
import { ConvertInput, SetExchangeRateInput } from './conversion.inputs.js';

@Resolver()
export class ConversionResolver {
  @Mutation(() => ExchangeRate, {
    description:
      'Sets the rate between two assets of a tree from validFrom on (now by default); earlier rates stay as history. ADMIN.',
  })
  async setExchangeRate(
    @Ctx() ctx: RequestContext,
    @Arg('input', () => SetExchangeRateInput) input: SetExchangeRateInput,
  ) {
    return Object.assign(new ExchangeRate(), await ctx.services.conversions.setExchangeRate(ctx.origin, input));
  }

  @Mutation(() => ConversionPayload, {
    description:
      'Debits amount of fromAsset and credits floor(amount × numerator ÷ denominator) of toAsset, through system:conversion, at the rate in force.',
  })
  async convert(@Ctx() ctx: RequestContext, @Arg('input', () => ConvertInput) input: ConvertInput) {
    const result = await ctx.services.conversions.convert(ctx.origin, input);
    return Object.assign(new ConversionPayload(), result, { rate: Object.assign(new ExchangeRate(), result.rate) });
  }

  @Query(() => [ExchangeRate], { description: "A pair's rates, newest validFrom first (at most 100)." })
  async exchangeRates(
    @Ctx() ctx: RequestContext,
    @Arg('ledgerId', () => ID) ledgerId: string,
    @Arg('fromAsset', () => String) fromAsset: string,
    @Arg('toAsset', () => String) toAsset: string,
  ) {
    const rates = await ctx.services.conversions.history(ctx.origin, ledgerId, fromAsset, toAsset);
    return rates.map((rate) => Object.assign(new ExchangeRate(), rate));
  }
}
