import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { LedgerEvent } from '../events/event.types.js';
import { ConnectionType } from '../platform/pagination.js';
import { DateTimeScalar } from '../platform/scalars.js';

export enum WebhookEndpointStatus {
  ENABLED = 'ENABLED',
  DISABLED = 'DISABLED',
}
registerEnumType(WebhookEndpointStatus, { name: 'WebhookEndpointStatus' });

export enum WebhookDeliveryStatus {
  PENDING = 'PENDING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
}
registerEnumType(WebhookDeliveryStatus, { name: 'WebhookDeliveryStatus' });

@ObjectType({
  description: "A partner's HTTPS receiver of the events of one ledger subtree, signed per Standard Webhooks.",
})
export class WebhookEndpoint {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  url!: string;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => [String], { description: 'The event types delivered; empty: every type.' })
  eventTypes!: string[];

  @Field(() => WebhookEndpointStatus)
  status!: WebhookEndpointStatus;

  @Field(() => String, {
    nullable: true,
    description: 'Why a DISABLED endpoint was disabled (410 Gone, failing for 5 days, or by hand).',
  })
  disabledReason!: string | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Since when every attempt has failed, if it has.' })
  failingSince!: Date | null;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  @Field(() => DateTimeScalar)
  updatedAt!: Date;

  rootLedgerId!: string;
  ledgerId!: string;
}

@ObjectType({ description: 'One event on its way to one endpoint: at least once, retried on the published schedule.' })
export class WebhookDelivery {
  @Field(() => ID)
  id!: string;

  @Field(() => LedgerEvent, { description: 'What is sent; its id is the webhook-id of every attempt.' })
  event!: LedgerEvent;

  @Field(() => WebhookDeliveryStatus)
  status!: WebhookDeliveryStatus;

  @Field(() => Int, { description: 'Attempts started so far.' })
  attempts!: number;

  @Field(() => DateTimeScalar, { nullable: true })
  lastAttemptAt!: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When the next attempt is due (PENDING only).' })
  nextAttemptAt!: Date | null;

  @Field(() => Int, { nullable: true, description: "The HTTP status of the last attempt's response." })
  lastResponseStatus!: number | null;

  @Field(() => String, { nullable: true })
  lastError!: string | null;

  @Field(() => DateTimeScalar)
  createdAt!: Date;
}

export const WebhookDeliveryConnection = ConnectionType('WebhookDelivery', WebhookDelivery);
export const WebhookEndpointConnection = ConnectionType('WebhookEndpoint', WebhookEndpoint);

@ObjectType()
export class CreatedWebhookEndpoint {
  @Field(() => WebhookEndpoint)
  endpoint!: WebhookEndpoint;

  @Field(() => String, { description: '"whsec_" + base64: shown only this once; stored encrypted.' })
  secret!: string;
}
