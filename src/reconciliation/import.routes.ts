import type express from 'express';
import type { Principal } from '../authorization/access.core.js';
import type { Logger } from '../platform/logger.js';
import type { RateDecision } from '../platform/rate-limit.js';
import {
  BadInputError,
  DomainError,
  ImportBusyError,
  ImportTooLargeError,
  type ErrorCode,
} from '../platform/errors.js';
import { classifyError } from '../platform/graphql-errors.js';
import { IMPORT_BODY_BYTES_MAX, type BodyFormat } from './import-body.core.js';
import type { ImportService } from './import.service.js';

export const IMPORT_ROUTE = '/reconciliation/sources/:sourceId/records';

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  BAD_USER_INPUT: 400,
  ASSET_NOT_FOUND: 400,
  IMPORT_TOO_LARGE: 413,
  IMPORT_BUSY: 503,
  IDEMPOTENCY_CONFLICT: 409,
  CONFLICT: 409,
  RATE_LIMITED: 429,
};
/** How long a refused request's remaining body is read and discarded, so the client sees the answer. */
const DRAIN_MS_MAX = 10_000;

class UnsupportedMediaError extends BadInputError {}

function formatOf(req: express.Request): BodyFormat {
  const encoding = req.get('content-encoding');
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity')
    throw new UnsupportedMediaError(`Content-Encoding ${encoding} is not accepted; send the body uncompressed`);
  const [media = '', ...parameters] = (req.get('content-type') ?? '')
    .split(';')
    .map((part) => part.trim().toLowerCase());
  const charset = parameters.find((parameter) => parameter.startsWith('charset='))?.slice(8);
  if (charset !== undefined && charset.replace(/"/g, '') !== 'utf-8')
    throw new UnsupportedMediaError('the body must be UTF-8 (charset=utf-8)');
  if (media === 'text/csv') return 'csv';
  if (media === 'application/x-ndjson' || media === 'application/ndjson') return 'ndjson';
  throw new UnsupportedMediaError(
    `Content-Type must be text/csv or application/x-ndjson; got ${JSON.stringify(media.slice(0, 80) || '(none)')}`,
  );
}

export interface ImportRouteOptions {
  services: {
    authenticator: { authenticate(header: string | undefined): Promise<Principal> };
    reconciliationImports: ImportService;
  };
  rateLimit(actorId: string): Promise<RateDecision>;
  logger: Logger;
}

/**
 * POST /reconciliation/sources/{sourceId}/records: the streamed import. Authenticated and rate-limited as
 * the GraphQL API is; the body goes to the import service chunk by chunk as it arrives, and the answer is
 * the ImportResult as JSON, or `{ errors: [{ message, extensions: { code, retryable } }] }` with a 4xx.
 */
export function mountImportRoute(app: express.Express, options: ImportRouteOptions): void {
  app.post(IMPORT_ROUTE, async (req, res) => {
    const requestId = String(res.locals.requestId);
    try {
      const principal = await options.services.authenticator.authenticate(req.get('authorization'));
      const allowance = await options.rateLimit(principal.actorId);
      if (!allowance.allowed) {
        res.setHeader('Retry-After', String(allowance.retryAfterSeconds));
        return await refuse(req, res, 429, 'RATE_LIMITED', true, 'rate limit exceeded for this credential', {
          retryAfterSeconds: allowance.retryAfterSeconds,
        });
      }
      const format = formatOf(req);
      const declared = Number(req.get('content-length') ?? '0');
      if (declared > IMPORT_BODY_BYTES_MAX)
        throw new ImportTooLargeError(`an import body may be at most ${IMPORT_BODY_BYTES_MAX} bytes; split the file`, {
          limit: 'bodyBytes',
          max: String(IMPORT_BODY_BYTES_MAX),
        });
      const key = req.get('idempotency-key');
      if (key === undefined) throw new BadInputError('the Idempotency-Key header is required');
      const result = await options.services.reconciliationImports.importStream(
        { principal, requestId, clientAddress: req.ip ?? null },
        String(req.params.sourceId),
        key,
        format,
        req,
      );
      res.status(result.replayed ? 200 : 201).json(result);
    } catch (error) {
      if ((error as { code?: string }).code === 'ECONNRESET' || res.destroyed) {
        // The client went away mid-body: the import was rolled back and there is no one to answer.
        options.logger.info('an import ended by its client before the body did', { requestId });
        return;
      }
      const classified = classifyError(error);
      if (classified.unexpected) options.logger.error('unexpected error in an import', { requestId, error });
      const status =
        error instanceof UnsupportedMediaError
          ? 415
          : classified.unexpected
            ? 500
            : (STATUS_OF[classified.code] ?? 400);
      const details = error instanceof DomainError ? error.details : undefined;
      if (error instanceof ImportBusyError) res.setHeader('Retry-After', error.details.retryAfterSeconds);
      await refuse(
        req,
        res,
        status,
        classified.code,
        classified.retryable,
        classified.unexpected ? `${classified.message} (see the X-Request-Id response header)` : classified.message,
        details,
      );
    }
  });
}

/** Answers an error; the rest of an unread body is discarded first (bounded), so the client reads the answer. */
async function refuse(
  req: express.Request,
  res: express.Response,
  status: number,
  code: string,
  retryable: boolean,
  message: string,
  details?: Readonly<Record<string, unknown>>,
): Promise<void> {
  if (!req.complete && !req.destroyed) {
    res.setHeader('Connection', 'close');
    if (status !== 413) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, DRAIN_MS_MAX);
        req.on('end', () => {
          clearTimeout(timer);
          resolve();
        });
        req.on('error', () => {
          clearTimeout(timer);
          resolve();
        });
        req.resume();
      });
    }
  }
  if (res.headersSent) return;
  res.status(status).json({ errors: [{ message, extensions: { ...details, code, retryable } }] });
}
