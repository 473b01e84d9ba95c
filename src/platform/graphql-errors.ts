import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { DomainError, type ErrorCode } from './errors.js';

/** The one catalog of public error codes and whether a client may simply retry. */
export const ERROR_CATALOG: Record<ErrorCode, { retryable: boolean }> = {
  UNAUTHENTICATED: { retryable: false },
  FORBIDDEN: { retryable: false },
  BAD_USER_INPUT: { retryable: false },
  NOT_FOUND: { retryable: false },
  INSUFFICIENT_FUNDS: { retryable: false },
  UNBALANCED_TRANSACTION: { retryable: false },
  IDEMPOTENCY_CONFLICT: { retryable: false },
  ACCOUNT_NOT_ACTIVE: { retryable: false },
  ASSET_NOT_FOUND: { retryable: false },
  ALREADY_REVERSED: { retryable: false },
  TRANSACTION_NOT_PENDING: { retryable: false },
  CONFLICT: { retryable: true },
  RATE_LIMITED: { retryable: true },
  QUERY_TOO_COMPLEX: { retryable: false },
  INTERNAL_SERVER_ERROR: { retryable: false },
};

// Apollo's and graphql-js's own codes for a request the client got wrong.
const CLIENT_REQUEST_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

// Postgres states that mean the database is briefly unreachable or shutting down: worth a retry.
const TRANSIENT_SQLSTATE_PREFIXES = ['08', '53', '57P'];
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
  if (
    TRANSIENT_NODE_ERRORS.has(sqlState) ||
    TRANSIENT_PRISMA_CODE.test(sqlState) ||
    TRANSIENT_SQLSTATE_PREFIXES.some((prefix) => sqlState.startsWith(prefix)) ||
    /Connection terminated|timeout exceeded when trying to connect/i.test(String((original as Error)?.message))
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
  const extensions: Record<string, unknown> = { code: classified.code, retryable: classified.retryable };
  const retryAfter = (unwrapResolverError(error) as GraphQLError)?.extensions?.retryAfterSeconds;
  if (typeof retryAfter === 'number') extensions.retryAfterSeconds = retryAfter;
  if (exposeDetails && classified.unexpected)
    extensions.detail = String((unwrapResolverError(error) as Error)?.message ?? '');
  return { message, locations: formatted.locations, path: formatted.path, extensions };
}
