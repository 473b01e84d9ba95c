import { Field, ID, InputType } from 'type-graphql';
import { WebhookEndpointStatus } from './webhook.types.js';

@InputType()
export class CreateWebhookEndpointInput {
  @Field(() => ID, { description: 'The top of the subtree whose events the endpoint receives.' })
  ledgerId!: string;

  @Field(() => String, { description: 'http(s) only, without credentials.' })
  url!: string;

  @Field(() => [String], { nullable: true, description: 'Omitted or empty: every type.' })
  eventTypes?: string[] | null;

  @Field(() => String, { nullable: true })
  description?: string | null;
}

@InputType()
export class UpdateWebhookEndpointInput {
  @Field(() => String, { nullable: true })
  url?: string | null;

  @Field(() => [String], { nullable: true, description: 'Empty: every type.' })
  eventTypes?: string[] | null;

  @Field(() => WebhookEndpointStatus, {
    nullable: true,
    description: 'ENABLED again clears the failure streak and makes pending deliveries due now.',
  })
  status?: WebhookEndpointStatus | null;

  @Field(() => String, { nullable: true })
  description?: string | null;
}
