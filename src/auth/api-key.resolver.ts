import { Arg, Ctx, Field, ID, InputType, Mutation, Resolver } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { ApiKey, ApiKeyRole, CreatedApiKey } from './api-key.types.js';

@InputType()
export class CreateApiKeyInput {
  @Field(() => String)
  name!: string;

  @Field(() => ApiKeyRole)
  role!: ApiKeyRole;

  @Field(() => ID, {
    nullable: true,
    description: 'The subtree the key may reach; omit for a global key (global admins only).',
  })
  ledgerId?: string | null;
}

@Resolver(() => ApiKey)
export class ApiKeyResolver {
  @Mutation(() => CreatedApiKey, { description: 'ADMIN only; the secret is returned once.' })
  createApiKey(
    @Ctx() ctx: RequestContext,
    @Arg('input', () => CreateApiKeyInput) input: CreateApiKeyInput,
  ): Promise<CreatedApiKey> {
    return ctx.services.apiKeys.create(ctx.origin, input);
  }

  @Mutation(() => ApiKey)
  revokeApiKey(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string): Promise<ApiKey> {
    return ctx.services.apiKeys.revoke(ctx.origin, id);
  }
}
