import { Field, ID, Int, ObjectType } from 'type-graphql';

@ObjectType({ description: 'A record an import did not take, and why.' })
export class ImportRejection {
  @Field(() => Int, {
    description:
      'The line of the body where the record starts (the header is line 1); for GraphQL, its 1-based position.',
  })
  line!: number;

  @Field(() => String, { nullable: true })
  externalId!: string | null;

  @Field(() => String)
  message!: string;
}

@ObjectType({ description: 'What one import did; the same answer again for a repeated idempotency key.' })
export class ImportResult {
  @Field(() => ID)
  id!: string;

  @Field(() => Int, { description: 'External ids seen for the first time.' })
  inserted!: number;

  @Field(() => Int, { description: 'External ids whose content changed: a new version each.' })
  updated!: number;

  @Field(() => Int, { description: 'Records identical to their current version.' })
  unchanged!: number;

  @Field(() => [ImportRejection], { description: 'The first 1,000 rejections, by line.' })
  rejected!: ImportRejection[];

  @Field(() => Int, { description: 'Every rejection, beyond the 1,000 listed too.' })
  rejectedCount!: number;

  @Field(() => Boolean, { description: 'True when this answers a repeated idempotency key.' })
  replayed!: boolean;
}
