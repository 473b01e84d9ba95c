import type express from 'express';
import type { Principal } from '../authorization/access.core.js';
import type { Logger } from '../platform/logger.js';
import type { RateDecision } from '../platform/rate-limit.js';
import { DomainError, ImportBusyError, RateLimitedError, type ErrorCode } from '../platform/errors.js';
import { classifyError } from '../platform/graphql-errors.js';

/**
 * What the reconciliation's plain HTTP routes (the streamed import, the CSV report) share with each other
 * and with the GraphQL API: who is asking, within their rate limit, and how a refusal is answered —
 * `{ errors: [{ message, extensions: { code, retryable, ...details } }] }` with the code's HTTP status.
 */
export interface HttpEdgeOptions {
  services: { authenticator: { authenticate(header: string | undefined): Promise<Principal> } };
  rateLimit(actorId: string): Promise<RateDecision>;
  logger: Logger;
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  BAD_USER_INPUT: 400,
  ASSET_NOT_FOUND: 400,
  IMPORT_TOO_LARGE: 413,
  IDEMPOTENCY_CONFLICT: 409,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  IMPORT_BUSY: 503,
};

/** The request's principal, once authenticated and let through by its rate limit; refused otherwise. */
export async function admit(req: express.Request, options: HttpEdgeOptions): Promise<Principal> {
  const principal = await options.services.authenticator.authenticate(req.get('authorization'));
  const allowance = await options.rateLimit(principal.actorId);
  if (!allowance.allowed) throw new RateLimitedError(allowance.retryAfterSeconds);
  return principal;
}

export interface Refusal {
  status: number;
  /** For the Retry-After header. */
  retryAfterSeconds?: string;
  body: { errors: Array<{ message: string; extensions: Record<string, unknown> }> };
}

/**
 * How `error` is answered. An unexpected one is logged with the request id and masked, as the GraphQL
 * API masks it; `status` overrides the code's own (415 for a media type the route does not take).
 */
export function refusalOf(error: unknown, requestId: string, logger: Logger, status?: number): Refusal {
  const classified = classifyError(error);
  if (classified.unexpected) logger.error('unexpected error in a reconciliation route', { requestId, error });
  let details: Readonly<Record<string, unknown>> | undefined = error instanceof DomainError ? error.details : undefined;
  let retryAfterSeconds: string | undefined;
  if (error instanceof RateLimitedError) {
    // A number in the body, as the GraphQL API tells it.
    details = { retryAfterSeconds: error.retryAfterSeconds };
    retryAfterSeconds = String(error.retryAfterSeconds);
  } else if (error instanceof ImportBusyError) {
    retryAfterSeconds = error.details.retryAfterSeconds;
  }
  return {
    status: status ?? (classified.unexpected ? 500 : (STATUS_OF[classified.code] ?? 400)),
    retryAfterSeconds,
    body: {
      errors: [
        {
          message: classified.unexpected
            ? `${classified.message} (see the X-Request-Id response header)`
            : classified.message,
          extensions: { ...details, code: classified.code, retryable: classified.retryable },
        },
      ],
    },
  };
}

/** Sends a refusal, unless an answer has already started. */
export function sendRefusal(res: express.Response, refusal: Refusal): void {
  if (res.headersSent) return;
  if (refusal.retryAfterSeconds !== undefined) res.setHeader('Retry-After', refusal.retryAfterSeconds);
  res.status(refusal.status).json(refusal.body);
}
