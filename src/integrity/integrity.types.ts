import { Field, Int, ObjectType } from 'type-graphql';

@ObjectType({ description: 'A recomputation of a root ledger from its journal, compared with what is stored.' })
export class IntegrityReport {
  @Field(() => Boolean)
  ok!: boolean;

  @Field(() => Int)
  transactionsChecked!: number;

  @Field(() => [String], { description: 'Each disagreement, in plain words.' })
  problems!: string[];
}
