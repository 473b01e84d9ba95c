import type express from 'express';
import { BadInputError, ImportTooLargeError } from '../platform/errors.js';
import { IMPORT_BODY_BYTES_MAX, type BodyFormat } from './import-body.core.js';
import type { ImportService } from './import.service.js';
import { admit, refusalOf, sendRefusal, type HttpEdgeOptions } from './http-edge.js';

export const IMPORT_ROUTE = '/reconciliation/sources/:sourceId/records';

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

export interface ImportRouteOptions extends HttpEdgeOptions {
  services: HttpEdgeOptions['services'] & { reconciliationImports: ImportService };
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
      const principal = await admit(req, options);
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
      const refusal = refusalOf(
        error,
        requestId,
        options.logger,
        error instanceof UnsupportedMediaError ? 415 : undefined,
      );
      await drainBody(req, res, refusal.status);
      sendRefusal(res, refusal);
    }
  });
}

/** The rest of a refused request's unread body is discarded first (bounded), so the client reads the answer. */
async function drainBody(req: express.Request, res: express.Response, status: number): Promise<void> {
  if (req.complete || req.destroyed) return;
  res.setHeader('Connection', 'close');
  if (status === 413) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, DRAIN_MS_MAX);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    req.on('end', done);
    req.on('error', done);
    req.resume();
  });
}
