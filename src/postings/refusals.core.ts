import {
  AccountNotActiveError,
  AlreadyReversedError,
  IdempotencyConflictError,
  InsufficientFundsError,
  LimitExceededError,
  type DomainError,
} from '../platform/errors.js';
import type { Refusal } from './postings.repository.js';

/** What a refusal's message names beyond its own row: the accounts' codes and the refused item's request. */
export interface RefusalContext {
  codeOf: (accountId: string) => string;
  idempotencyKey: string | null;
  reversalOfId: string | null;
  /** For a reused key: the fields the new request changed, when they could be read. */
  differingFields?: readonly string[];
}

/**
 * The error catalog's answer to each refusal write_postings returns: the one place a refusal of the posting
 * statement becomes a DomainError (a batch then names the item, with nameItem).
 */
export function refusalError(refusal: Refusal, context: RefusalContext): DomainError {
  switch (refusal.code) {
    case 'ACCOUNT_NOT_ACTIVE':
      return new AccountNotActiveError(
        `account ${context.codeOf(refusal.accountIds[0]!)} is ${refusal.statuses[0] ?? 'not ACTIVE'}`,
      );
    case 'INSUFFICIENT_FUNDS':
      return new InsufficientFundsError(
        `insufficient funds: the posting would take ${refusal.accountIds.map(context.codeOf).join(', ')} below its allowed balance`,
        undefined,
        refusal.accountIds,
      );
    case 'LIMIT_EXCEEDED': {
      const limitId = refusal.limitId ?? '';
      const remaining = (refusal.remaining ?? 0n).toString();
      return new LimitExceededError(`the posting would pass limit ${limitId}; ${remaining} remains of it`, {
        limitId,
        remaining,
      });
    }
    case 'ALREADY_REVERSED':
      return new AlreadyReversedError(`transaction ${context.reversalOfId} has already been reversed`);
    case 'IDEMPOTENCY_CONFLICT': {
      const fields = context.differingFields ?? [];
      return new IdempotencyConflictError(
        `idempotencyKey ${context.idempotencyKey} was already used for a different request (transaction ${refusal.originalId})${fields.length > 0 ? `; it differs in ${fields.join(', ')}` : ''}`,
        { transactionId: refusal.originalId!, ...(fields.length > 0 ? { differingFields: fields } : {}) },
      );
    }
  }
}
