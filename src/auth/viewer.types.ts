import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeScalar } from '../platform/scalars.js';

export enum CredentialKind {
  BOOTSTRAP_ADMIN = 'BOOTSTRAP_ADMIN',
  API_KEY = 'API_KEY',
  CUSTOMER_TOKEN = 'CUSTOMER_TOKEN',
  /** The server itself (scheduler); never seen by clients. */
  SYSTEM = 'SYSTEM',
}
registerEnumType(CredentialKind, { name: 'CredentialKind' });

export enum CredentialRole {
  ADMIN = 'ADMIN',
  OPERATOR = 'OPERATOR',
  READER = 'READER',
  CUSTOMER = 'CUSTOMER',
}
registerEnumType(CredentialRole, { name: 'CredentialRole' });

@ObjectType({ description: 'The credential making the request.' })
export class Viewer {
  @Field(() => CredentialKind)
  credential!: CredentialKind;

  @Field(() => CredentialRole)
  role!: CredentialRole;

  @Field(() => ID, { nullable: true, description: 'The API key, for API key credentials.' })
  apiKeyId!: string | null;

  @Field(() => DateTimeScalar, {
    nullable: true,
    description: 'When a customer token stops working; null for API keys.',
  })
  expiresAt!: Date | null;

  /** Resolved by ViewerResolver: the scope ledger of a scoped key, the account of a customer token. */
  scopeLedgerId!: string | null;
  accountId!: string | null;
}
