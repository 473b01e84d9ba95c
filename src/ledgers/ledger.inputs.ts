import { Field, ID, InputType } from 'type-graphql';
import { JSONObjectScalar } from '../platform/scalars.js';

@InputType()
export class CreateLedgerInput {
  @Field(() => String)
  code!: string;

  @Field(() => String)
  name!: string;

  @Field(() => ID, { nullable: true, description: 'Omit for a root ledger (a tenant).' })
  parentId?: string | null;

  @Field(() => JSONObjectScalar, { nullable: true })
  metadata?: Record<string, unknown> | null;
}
