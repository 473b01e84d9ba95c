import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeScalar } from '../platform/scalars.js';

export enum ApiKeyRole {
  ADMIN = 'ADMIN',
  OPERATOR = 'OPERATOR',
  READER = 'READER',
}
registerEnumType(ApiKeyRole, { name: 'ApiKeyRole' });

@ObjectType({ description: 'A server-to-server credential, scoped to a ledger subtree (or global) with a role.' })
export class ApiKey {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => ApiKeyRole)
  role!: ApiKeyRole;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  @Field(() => DateTimeScalar, { nullable: true })
  revokedAt!: Date | null;

  rootLedgerId!: string | null;
  ledgerId!: string | null;
}

@ObjectType()
export class CreatedApiKey {
  @Field(() => ApiKey)
  apiKey!: ApiKey;

  @Field(() => String, { description: 'The secret, shown only this once; only its hash is stored.' })
  secret!: string;
}
