import { Arg, Ctx, ID, Int, Mutation, Resolver } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { CUSTOMER_TOKEN_TTL_SECONDS_DEFAULT, CUSTOMER_TOKEN_TTL_SECONDS_MAX } from './customer-token.service.js';
import { CustomerToken } from './customer-token.types.js';

@Resolver(() => CustomerToken)
export class CustomerTokenResolver {
  @Mutation(() => CustomerToken, {
    description: `OPERATOR or ADMIN within the account's scope. The token reads only this account (balances, entries) and follows its balance and transactions; ttlSeconds at most ${CUSTOMER_TOKEN_TTL_SECONDS_MAX}.`,
  })
  async createCustomerToken(
    @Ctx() ctx: RequestContext,
    @Arg('accountId', () => ID) accountId: string,
    @Arg('ttlSeconds', () => Int, { nullable: true, defaultValue: CUSTOMER_TOKEN_TTL_SECONDS_DEFAULT }) ttlSeconds:
      | number
      | null,
  ): Promise<CustomerToken> {
    return Object.assign(
      new CustomerToken(),
      await ctx.services.customerTokens.create(ctx.origin, accountId, ttlSeconds ?? CUSTOMER_TOKEN_TTL_SECONDS_DEFAULT),
    );
  }
}
