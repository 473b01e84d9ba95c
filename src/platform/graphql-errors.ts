import { GraphQLEnumType, GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { DomainError, type ErrorCode } from './errors.js';

/**
 * The one catalog of public error codes: whether a client may simply retry, and what the code means (the
 * description of the schema's ErrorCode enum, so typed clients can switch on `extensions.code`).
 */
export const ERROR_CATALOG: Record<ErrorCode, { retryable: boolean; description: string }> = {
  UNAUTHENTICATED: {
    retryable: false,
    description: 'Credentials are missing, malformed, unknown, revoked or expired.',
  },
  FORBIDDEN: { retryable: false, description: "The credential's role or scope does not allow the operation." },
  BAD_USER_INPUT: { retryable: false, description: 'The request is malformed or an argument is invalid.' },
  NOT_FOUND: { retryable: false, description: 'A named object does not exist or is out of reach.' },
  INSUFFICIENT_FUNDS: {
    retryable: false,
    description:
      'A posting would take an account below its allowed balance; extensions: accountId, asset, available, requested.',
  },
  UNBALANCED_TRANSACTION: { retryable: false, description: "A transaction's debits and credits differ per asset." },
  IDEMPOTENCY_CONFLICT: {
    retryable: false,
    description: 'The idempotency key was already used for a different request.',
  },
  ACCOUNT_NOT_ACTIVE: { retryable: false, description: 'An account is FROZEN or CLOSED.' },
  ASSET_NOT_FOUND: {
    retryable: false,
    description: 'No asset of that code in the ledger tree (codes are upper case).',
  },
  ALREADY_REVERSED: { retryable: false, description: 'The transaction has already been reversed.' },
  TRANSACTION_NOT_PENDING: { retryable: false, description: 'The hold was already posted, voided or timed out.' },
  LIMIT_EXCEEDED: {
    retryable: false,
    description:
      'A posting would pass a program limit (an earn or redeem cap for the period, or a balance ceiling); extensions: limitId, remaining.',
  },
  CONFLICT: { retryable: true, description: 'Contention outlived its retries; retry the request.' },
  ALREADY_MATCHED: {
    retryable: false,
    description: 'Reconciliation: the transaction or the record is already matched for this source.',
  },
  ALREADY_RESOLVED: {
    retryable: false,
    description: 'Reconciliation: the exception was already resolved by another request (another idempotencyKey).',
  },
  RATE_LIMITED: {
    retryable: true,
    description: 'Too many requests for this credential; extensions.retryAfterSeconds.',
  },
  QUERY_TOO_COMPLEX: { retryable: false, description: 'The document is too deep, too wide or too long.' },
  IMPORT_TOO_LARGE: {
    retryable: false,
    description:
      'A reconciliation import is beyond a limit (body bytes, rows, line length, records per call); extensions: limit, max. Nothing was imported.',
  },
  IMPORT_BUSY: {
    retryable: true,
    description:
      'This instance is already streaming as many reconciliation imports as it takes at once (HTTP 503, Retry-After); extensions: max, retryAfterSeconds. Nothing was imported.',
  },
  INTERNAL_SERVER_ERROR: {
    retryable: false,
    description:
      'Unexpected (masked; the X-Request-Id response header names it in the logs); retryable when transient.',
  },
  EXCHANGE_RATE_NOT_FOUND: {
    retryable: false,
    description: 'No exchange rate between the two assets is in force (none set, or each starts later).',
  },
  GIFT_CARD_LOCKED: {
    retryable: false,
    description: 'Five wrong PINs in a row locked the gift card; an ADMIN unlocks it (unlockGiftCard).',
  },
  GIFT_CARD_EXPIRED: { retryable: false, description: "The gift card's expiresAt has passed." },
};

/**
 * The codes as a schema enum. No field returns it (`extensions.code` lies outside the schema): it is there
 * so code generators give clients the closed list, and it is generated from the catalog so it cannot drift.
 */
export const ERROR_CODE_ENUM = new GraphQLEnumType({
  name: 'ErrorCode',
  description: 'Every value `extensions.code` of an error can take.',
  values: Object.fromEntries(
    Object.entries(ERROR_CATALOG).map(([code, { description }]) => [code, { value: code, description }]),
  ),
});

// Apollo's and graphql-js's own codes for a request the client got wrong.
const CLIENT_REQUEST_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

// Postgres states that mean the database is briefly unreachable or shutting down: worth a retry. 25006
// (read_only_sql_transaction) is a write that reached a demoted primary during a failover; nothing ran.
const TRANSIENT_SQLSTATE_PREFIXES = ['08', '53', '57P', '25006'];
const TRANSIENT_NODE_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE']);
// Prisma's own codes for the same: P1xxx (database unreachable, timed out, closed the connection) and
// P2024 (no pooled connection in time).
const TRANSIENT_PRISMA_CODE = /^P1\d{3}$|^P2024$/;

export interface ClassifiedError {
  code: ErrorCode;
  retryable: boolean;
  message: string;
  /** True when the error is not a known outcome and must be logged and masked. */
  unexpected: boolean;
}

export function classifyError(error: unknown): ClassifiedError {
  const original = unwrapResolverError(error);
  if (original instanceof DomainError) {
    return {
      code: original.code,
      retryable: ERROR_CATALOG[original.code].retryable,
      message: original.message,
      unexpected: false,
    };
  }
  if (original instanceof GraphQLError) {
    // Apollo re-codes every validation error GRAPHQL_VALIDATION_FAILED; our own rules' codes (QUERY_TOO_COMPLEX) live on inside.
    const inner = original.originalError;
    if (
      inner instanceof GraphQLError &&
      String(inner.extensions?.code ?? '') in ERROR_CATALOG &&
      inner.extensions?.code !== 'INTERNAL_SERVER_ERROR'
    ) {
      const code = inner.extensions.code as ErrorCode;
      return { code, retryable: ERROR_CATALOG[code].retryable, message: inner.message, unexpected: false };
    }
    const raw = String(original.extensions?.code ?? '');
    if (raw in ERROR_CATALOG && raw !== 'INTERNAL_SERVER_ERROR') {
      const code = raw as ErrorCode;
      return { code, retryable: ERROR_CATALOG[code].retryable, message: original.message, unexpected: false };
    }
    if (raw === 'GRAPHQL_PARSE_FAILED' && /tokens/i.test(original.message)) {
      return { code: 'QUERY_TOO_COMPLEX', retryable: false, message: original.message, unexpected: false };
    }
    if (CLIENT_REQUEST_CODES.has(raw) || (raw === '' && original.originalError === undefined)) {
      return { code: 'BAD_USER_INPUT', retryable: false, message: original.message, unexpected: false };
    }
  }
  const sqlState = String((original as { code?: unknown })?.code ?? '');
  if (sqlState === '22003') {
    return {
      code: 'BAD_USER_INPUT',
      retryable: false,
      message: 'an amount or total would exceed the signed 64-bit range',
      unexpected: false,
    };
  }
  // A second guard behind input validation: text Postgres cannot store.
  if (sqlState === '22021' || sqlState === '22P05' || sqlState === '54000') {
    return {
      code: 'BAD_USER_INPUT',
      retryable: false,
      message: 'the input contains text the ledger cannot store',
      unexpected: false,
    };
  }
  const databaseState = prismaDatabaseState(original);
  if (
    TRANSIENT_NODE_ERRORS.has(sqlState) ||
    TRANSIENT_PRISMA_CODE.test(sqlState) ||
    TRANSIENT_SQLSTATE_PREFIXES.some((prefix) => sqlState.startsWith(prefix) || databaseState.startsWith(prefix)) ||
    /Connection terminated|timeout exceeded when trying to connect|is not queryable/i.test(
      String((original as Error)?.message),
    )
  ) {
    return {
      code: 'INTERNAL_SERVER_ERROR',
      retryable: true,
      message: 'the database is unavailable; retry shortly',
      unexpected: true,
    };
  }
  return { code: 'INTERNAL_SERVER_ERROR', retryable: false, message: 'internal server error', unexpected: true };
}

/**
 * Prisma reports a database error it has no code of its own for (P2010 and the like) with Postgres's SQLSTATE
 * inside, under `meta.driverAdapterError.cause`; '' when there is none.
 */
function prismaDatabaseState(error: unknown): string {
  const cause = (error as { meta?: { driverAdapterError?: { cause?: { originalCode?: unknown; code?: unknown } } } })
    ?.meta?.driverAdapterError?.cause;
  const state = cause?.originalCode ?? cause?.code;
  return typeof state === 'string' ? state : '';
}

/** Apollo `formatError`: every error leaves with a catalog code; unexpected ones lose their details. */
export function formatGraphQLError(
  formatted: GraphQLFormattedError,
  error: unknown,
  exposeDetails: boolean,
): GraphQLFormattedError {
  const classified = classifyError(error);
  const message =
    classified.unexpected && !exposeDetails
      ? `${classified.message} (see the X-Request-Id response header)`
      : classified.message;
  const original = unwrapResolverError(error);
  const details = original instanceof DomainError ? original.details : undefined;
  const extensions: Record<string, unknown> = { ...details, code: classified.code, retryable: classified.retryable };
  const retryAfter = (unwrapResolverError(error) as GraphQLError)?.extensions?.retryAfterSeconds;
  if (typeof retryAfter === 'number') extensions.retryAfterSeconds = retryAfter;
  if (exposeDetails && classified.unexpected)
    extensions.detail = String((unwrapResolverError(error) as Error)?.message ?? '');
  return { message, locations: formatted.locations, path: formatted.path, extensions };
}
