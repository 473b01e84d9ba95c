/**
 * Domain errors: plain classes with a literal code. They know nothing of GraphQL; the API edge
 * (graphql-errors.ts) maps each code to `extensions.code` and `extensions.retryable` in one catalog.
 */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'INSUFFICIENT_FUNDS'
  | 'UNBALANCED_TRANSACTION'
  | 'IDEMPOTENCY_CONFLICT'
  | 'ACCOUNT_NOT_ACTIVE'
  | 'ASSET_NOT_FOUND'
  | 'ALREADY_REVERSED'
  | 'TRANSACTION_NOT_PENDING'
  | 'CONFLICT'
  | 'LIMIT_EXCEEDED'
  | 'ALREADY_MATCHED'
  | 'ALREADY_RESOLVED'
  | 'RATE_LIMITED'
  | 'QUERY_TOO_COMPLEX'
  | 'IMPORT_TOO_LARGE'
  | 'IMPORT_BUSY'
  | 'INTERNAL_SERVER_ERROR'
  | 'EXCHANGE_RATE_NOT_FOUND'
  | 'GIFT_CARD_LOCKED'
  | 'GIFT_CARD_EXPIRED';

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
  /** Facts a client can act on, sent as extensions beside code and retryable (amounts as strings). */
  readonly details?: Readonly<Record<string, string | readonly string[]>>;
}

export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
}
export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN';
}
export class BadInputError extends DomainError {
  readonly code = 'BAD_USER_INPUT';
}
export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
}
/** What a refused posting lacked, for a client to show: the account and asset, and both amounts. */
export interface Shortfall {
  accountId: string;
  asset: string;
  /** The account's available balance in the asset, read right after the refusal. */
  available: string;
  /** How much of it the posting would have taken. */
  requested: string;
}

export class InsufficientFundsError extends DomainError {
  readonly code = 'INSUFFICIENT_FUNDS';
  constructor(
    message: string,
    readonly details?: Shortfall & Record<string, string>,
    /** The accounts the database named as falling below their floor, for whoever can explain the shortfall. */
    readonly refusedAccountIds: readonly string[] = [],
  ) {
    super(message);
  }
  /** In an atomic batch, the index of the item refused (set by nameItem). */
  item: number | null = null;
}
export class UnbalancedTransactionError extends DomainError {
  readonly code = 'UNBALANCED_TRANSACTION';
}
export class IdempotencyConflictError extends DomainError {
  readonly code = 'IDEMPOTENCY_CONFLICT';
  constructor(
    message: string,
    /** The transaction that holds the key and, when known, the fields the new request changed. */
    readonly details?: { transactionId: string; differingFields?: readonly string[] },
  ) {
    super(message);
  }
}
export class AccountNotActiveError extends DomainError {
  readonly code = 'ACCOUNT_NOT_ACTIVE';
}
export class AssetNotFoundError extends DomainError {
  readonly code = 'ASSET_NOT_FOUND';
}
export class AlreadyReversedError extends DomainError {
  readonly code = 'ALREADY_REVERSED';
}
export class TransactionNotPendingError extends DomainError {
  readonly code = 'TRANSACTION_NOT_PENDING';
}
/** Reconciliation: the transaction or record is already matched (a source matches each at most once). */
export class AlreadyMatchedError extends DomainError {
  readonly code = 'ALREADY_MATCHED';
}
/** Reconciliation: the exception was already resolved, by another request than this one. */
export class AlreadyResolvedError extends DomainError {
  readonly code = 'ALREADY_RESOLVED';
}
/** Contention that outlived its bounded retries; the client may retry. */
export class ConflictError extends DomainError {
  readonly code = 'CONFLICT';
}
/** No rate between the two assets is in force yet (none set, or every one set starts later). */
export class ExchangeRateNotFoundError extends DomainError {
  readonly code = 'EXCHANGE_RATE_NOT_FOUND';
}
/** Five wrong PINs in a row locked the card; an ADMIN unlocks it. */
export class GiftCardLockedError extends DomainError {
  readonly code = 'GIFT_CARD_LOCKED';
}
/** The card's expiresAt has passed; told only to a caller who gave the right PIN. */
export class GiftCardExpiredError extends DomainError {
  readonly code = 'GIFT_CARD_EXPIRED';
}

/** A posting would pass a program limit (a cap per period, or a balance ceiling); nothing was written. */
export class LimitExceededError extends DomainError {
  readonly code = 'LIMIT_EXCEEDED';
  constructor(
    message: string,
    /** The limit refused by, and how much of it was left (for a ceiling: room below it before the posting). */
    readonly details: { limitId: string; remaining: string },
  ) {
    super(message);
  }
  /** In an atomic batch, the index of the item refused (set by nameItem). */
  item: number | null = null;
}
/** An import beyond a documented limit (body bytes, rows, line length, records per call); nothing was changed. */
export class ImportTooLargeError extends DomainError {
  readonly code = 'IMPORT_TOO_LARGE';
  constructor(
    message: string,
    readonly details: { limit: string; max: string },
  ) {
    super(message);
  }
}
/** As many streamed imports as this instance takes at once are already running; nothing was read or changed. */
export class ImportBusyError extends DomainError {
  readonly code = 'IMPORT_BUSY';
  constructor(
    message: string,
    readonly details: { max: string; retryAfterSeconds: string },
  ) {
    super(message);
  }
}
/** The credential sent more requests than its rate limit allows; retry after `retryAfterSeconds`. */
export class RateLimitedError extends DomainError {
  readonly code = 'RATE_LIMITED';
  constructor(readonly retryAfterSeconds: number) {
    super(`rate limit exceeded for this credential; retry in ${retryAfterSeconds} s`);
  }
}
