import { Field, ID, InputType, ObjectType } from 'type-graphql';
import { DateTimeScalar } from '../platform/scalars.js';
import { ConnectionType } from '../platform/pagination.js';

@ObjectType({ description: 'Who changed what, when, from where: one per mutation, append-only.' })
export class AuditEvent {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { description: 'api_key, bootstrap or system (the scheduler).' })
  actorType!: string;

  @Field(() => String, { description: 'The API key id, "bootstrap-admin", or "system".' })
  actorId!: string;

  @Field(() => String, { description: 'The GraphQL operation, e.g. issue or updateAccount.' })
  operation!: string;

  @Field(() => [ID])
  targetIds!: string[];

  @Field(() => String, { nullable: true })
  requestId!: string | null;

  @Field(() => String, { nullable: true })
  clientAddress!: string | null;

  @Field(() => DateTimeScalar)
  createdAt!: Date;
}

@ObjectType('AuditEventConnection')
export class AuditEventConnection extends ConnectionType('AuditEvent', AuditEvent) {}

@InputType('AuditEventFilter')
export class AuditEventFilterInput {
  @Field(() => String, { nullable: true })
  actorId?: string | null;

  @Field(() => String, { nullable: true })
  operation?: string | null;

  @Field(() => DateTimeScalar, { nullable: true })
  from?: Date | null;

  @Field(() => DateTimeScalar, { nullable: true })
  to?: Date | null;
}
