import { Field, ObjectType } from 'type-graphql';
import { DateTimeScalar } from '../platform/scalars.js';
import { Account } from '../accounts/account.types.js';

@ObjectType({ description: 'A signed, short-lived credential for one account, for web and mobile frontends.' })
export class CustomerToken {
  @Field(() => String, {
    description: 'Send as `Authorization: Bearer <token>`, or as the WebSocket connection_init `authorization`.',
  })
  token!: string;

  @Field(() => DateTimeScalar)
  expiresAt!: Date;

  @Field(() => Account)
  account!: Account;
}
