import { Arg, Ctx, Field, ID, InputType, Int, Mutation, Resolver } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { LimitPeriod } from '../platform/calendar.types.js';
import { Asset, AssetKind, ExpiryPolicyKind } from './asset.types.js';

@InputType({ description: 'How long value of an asset lasts once earned; see ExpiryPolicyKind.' })
export class ExpiryPolicyInput {
  @Field(() => ExpiryPolicyKind)
  kind!: ExpiryPolicyKind;

  @Field(() => Int, { nullable: true, description: 'ROLLING and INACTIVITY: 1 to 36500 days of 24 hours.' })
  days?: number | null;

  @Field(() => LimitPeriod, { nullable: true, description: 'END_OF_PERIOD: the calendar period.' })
  period?: LimitPeriod | null;

  @Field(() => Int, {
    nullable: true,
    description: 'END_OF_PERIOD: periods after the one of the earn, 0 to 1200 (default 1; 0 is the end of that one).',
  })
  periods?: number | null;

  @Field(() => String, { nullable: true, description: 'END_OF_PERIOD: an IANA time zone (default UTC).' })
  timeZone?: string | null;
}

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

  @Field(() => Int, { nullable: true, description: 'Shorthand for expiryPolicy { kind: ROLLING, days }.' })
  expiresAfterDays?: number | null;

  @Field(() => ExpiryPolicyInput, { nullable: true, description: 'Omitted (and no expiresAfterDays): never expires.' })
  expiryPolicy?: ExpiryPolicyInput | null;
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
