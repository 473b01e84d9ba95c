import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { Ledger } from '../ledgers/ledger.types.js';
import { DateTimeScalar } from '../platform/scalars.js';
import { CreateWebhookEndpointInput, UpdateWebhookEndpointInput } from './webhook.inputs.js';
import {
  CreatedWebhookEndpoint,
  WebhookDelivery,
  WebhookDeliveryConnection,
  WebhookDeliveryStatus,
  WebhookEndpoint,
  WebhookEndpointConnection,
} from './webhook.types.js';

@Resolver(() => WebhookEndpoint)
export class WebhookEndpointResolver {
  @Query(() => WebhookEndpoint, { nullable: true, description: "ADMIN over the endpoint's ledger." })
  webhookEndpoint(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string): Promise<WebhookEndpoint | null> {
    return ctx.services.webhooks.findById(ctx.origin, id);
  }

  @Query(() => WebhookEndpointConnection, { description: "The endpoints of the ledger's subtree, oldest first." })
  async webhookEndpoints(
    @Ctx() ctx: RequestContext,
    @Arg('ledgerId', () => ID) ledgerId: string,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
  ) {
    ctx.access.require('webhookEndpoints');
    const ledger = await ctx.access.visibleLedgerRef(ledgerId);
    return ctx.services.webhooks.list(ctx.origin, ledger, first, after);
  }

  @Mutation(() => CreatedWebhookEndpoint, { description: 'ADMIN only; the secret is returned once.' })
  createWebhookEndpoint(
    @Ctx() ctx: RequestContext,
    @Arg('input', () => CreateWebhookEndpointInput) input: CreateWebhookEndpointInput,
  ): Promise<CreatedWebhookEndpoint> {
    return ctx.services.webhooks.create(ctx.origin, input);
  }

  @Mutation(() => WebhookEndpoint)
  updateWebhookEndpoint(
    @Ctx() ctx: RequestContext,
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateWebhookEndpointInput) input: UpdateWebhookEndpointInput,
  ): Promise<WebhookEndpoint> {
    return ctx.services.webhooks.update(ctx.origin, id, input);
  }

  @Mutation(() => CreatedWebhookEndpoint, {
    description: 'A new secret, returned once; the old one keeps signing beside it for the rotation overlap.',
  })
  rotateWebhookSecret(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string): Promise<CreatedWebhookEndpoint> {
    return ctx.services.webhooks.rotateSecret(ctx.origin, id);
  }

  @Mutation(() => WebhookEndpoint, { description: 'Deletes the endpoint and its deliveries.' })
  deleteWebhookEndpoint(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string): Promise<WebhookEndpoint> {
    return ctx.services.webhooks.delete(ctx.origin, id);
  }

  @Mutation(() => Int, {
    description: 'Sends again the events that occurred in [from, to], with their original webhook-ids; the count.',
  })
  redeliverWebhooks(
    @Ctx() ctx: RequestContext,
    @Arg('endpointId', () => ID) endpointId: string,
    @Arg('from', () => DateTimeScalar) from: Date,
    @Arg('to', () => DateTimeScalar, { nullable: true }) to?: Date | null,
  ): Promise<number> {
    return ctx.services.webhooks.redeliver(ctx.origin, endpointId, from, to ?? null);
  }

  @Mutation(() => WebhookDelivery, { description: 'Sends a webhook.test event now; the delivery after its attempt.' })
  sendTestWebhook(
    @Ctx() ctx: RequestContext,
    @Arg('endpointId', () => ID) endpointId: string,
  ): Promise<WebhookDelivery> {
    return ctx.services.webhooks.sendTest(ctx.origin, endpointId);
  }

  @FieldResolver(() => Ledger)
  async ledger(@Root() endpoint: WebhookEndpoint, @Ctx() ctx: RequestContext): Promise<Ledger> {
    return ctx.access.ledger((await ctx.loaders.ledgerById.load(endpoint.ledgerId))!);
  }

  @FieldResolver(() => WebhookDeliveryConnection, { description: 'Newest first.' })
  deliveries(
    @Root() endpoint: WebhookEndpoint,
    @Ctx() ctx: RequestContext,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('status', () => WebhookDeliveryStatus, { nullable: true }) status?: WebhookDeliveryStatus | null,
  ) {
    return ctx.services.webhooks.deliveries(endpoint, first, after, status);
  }
}
