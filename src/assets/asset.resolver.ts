import { Arg, Ctx, Field, ID, InputType, Int, Mutation, Resolver } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { Asset, AssetKind } from './asset.types.js';

@InputType()
export class CreateAssetInput {
  @Field(() => ID, { description: 'The root ledger that defines the asset.' })
  ledgerId!: string;

  @Field(() => String)
  code!: string;

  @Field(() => String)
  name!: string;

  @Field(() => AssetKind)
  kind!: AssetKind;

  @Field(() => Int)
  scale!: number;

  @Field(() => Int, { nullable: true })
  expiresAfterDays?: number | null;
}

@Resolver(() => Asset)
export class AssetResolver {
  @Mutation(() => Asset)
  createAsset(
    @Ctx() ctx: RequestContext,
    @Arg('input', () => CreateAssetInput) input: CreateAssetInput,
  ): Promise<Asset> {
    return ctx.services.assets.create(ctx.origin, input);
  }
}
