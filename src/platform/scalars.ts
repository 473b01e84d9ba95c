import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { formatAmount, parseAmount } from './amount.js';
import { DomainError } from './errors.js';

/** Turns a domain validation failure into the GraphQL error a scalar must throw. */
function asInputError(parse: () => unknown): unknown {
  try {
    return parse();
  } catch (error) {
    if (error instanceof DomainError) throw new GraphQLError(error.message, { extensions: { code: 'BAD_USER_INPUT' } });
    throw error;
  }
}

export const AmountScalar = new GraphQLScalarType<bigint, string>({
  name: 'Amount',
  description:
    'A signed 64-bit integer count of an asset\'s minor units, as a base-10 string ("12500" is 125.00 at scale 2). ' +
    'Input: such a string, or a JSON integer within ±(2^53−1).',
  serialize: (value) => {
    if (typeof value !== 'bigint') throw new GraphQLError('Amount must serialize from a bigint');
    return formatAmount(value);
  },
  parseValue: (value) => asInputError(() => parseAmount(value)) as bigint,
  parseLiteral: (ast) => {
    if (ast.kind === Kind.STRING) return asInputError(() => parseAmount(ast.value)) as bigint;
    // A JSON integer literal obeys the same ±(2^53−1) bound as a JSON number in variables.
    if (ast.kind === Kind.INT) return asInputError(() => parseAmount(Number(ast.value))) as bigint;
    throw new GraphQLError('Amount must be a base-10 integer string or a JSON integer', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  },
});

// ISO-8601 with an explicit zone (Z or ±hh:mm); read as an instant, written back in UTC.
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function parseInstant(value: unknown): Date {
  if (typeof value !== 'string' || !ISO_INSTANT.test(value)) {
    throw new GraphQLError('DateTime must be an ISO-8601 string with a time zone, such as "2026-11-21T09:30:00Z"', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new GraphQLError(`DateTime ${JSON.stringify(value)} is not a real instant`, {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  return date;
}

export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An instant, ISO-8601 in UTC (e.g. "2026-11-21T09:30:00.000Z").',
  serialize: (value) => {
    if (!(value instanceof Date)) throw new GraphQLError('DateTime must serialize from a Date');
    return value.toISOString();
  },
  parseValue: parseInstant,
  parseLiteral: (ast) => parseInstant(ast.kind === Kind.STRING ? ast.value : undefined),
});

/** Metadata is a JSON object of bounded size; arrays, scalars and nulls at the top level are refused. */
export const METADATA_BYTES_MAX = 16_384;

function parseMetadata(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GraphQLError('JSONObject must be a JSON object', { extensions: { code: 'BAD_USER_INPUT' } });
  }
  if (Buffer.byteLength(JSON.stringify(value)) > METADATA_BYTES_MAX) {
    throw new GraphQLError(`JSONObject must serialize to at most ${METADATA_BYTES_MAX} bytes`, {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  return value as Record<string, unknown>;
}

function literalToJson(ast: ValueNode, variables: Record<string, unknown> | null | undefined): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return ast.values.map((item) => literalToJson(item, variables));
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((field) => [field.name.value, literalToJson(field.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[ast.name.value];
    default:
      throw new GraphQLError('JSONObject literal must be JSON', { extensions: { code: 'BAD_USER_INPUT' } });
  }
}

export const JSONObjectScalar = new GraphQLScalarType<Record<string, unknown>, Record<string, unknown>>({
  name: 'JSONObject',
  description: `A JSON object (metadata), at most ${METADATA_BYTES_MAX} bytes when serialized.`,
  serialize: (value) => value as Record<string, unknown>,
  parseValue: parseMetadata,
  parseLiteral: (ast, variables) => parseMetadata(literalToJson(ast, variables)),
});
