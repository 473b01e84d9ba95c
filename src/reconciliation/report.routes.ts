import type express from 'express';
import type { Principal } from '../authorization/access.core.js';
import type { Logger } from '../platform/logger.js';
import type { RateDecision } from '../platform/rate-limit.js';
import { DomainError, type ErrorCode } from '../platform/errors.js';
import { ERROR_CATALOG } from '../platform/graphql-errors.js';
import type { ReportService } from './report.service.js';

export const REPORT_ROUTE = '/reconciliation/runs/:runId/report.csv';

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  BAD_USER_INPUT: 400,
};

export interface ReportRouteOptions {
  services: {
    authenticator: { authenticate(header: string | undefined): Promise<Principal> };
    reconciliationReports: ReportService;
  };
  rateLimit(actorId: string): Promise<RateDecision>;
  logger: Logger;
}

/**
 * GET /reconciliation/runs/{runId}/report.csv: authenticated and rate-limited as the GraphQL API is, and
 * readable by whoever may read the run (`reconciliationRun`). Errors answer as JSON with a 4xx, like the
 * import; once the CSV has started, a failure ends the response early (the client sees a broken body).
 */
export function mountReportRoute(app: express.Express, options: ReportRouteOptions): void {
  app.get(REPORT_ROUTE, async (req, res) => {
    const requestId = String(res.locals.requestId);
    try {
      const principal = await options.services.authenticator.authenticate(req.get('authorization'));
      const allowance = await options.rateLimit(principal.actorId);
      if (!allowance.allowed) {
        res.setHeader('Retry-After', String(allowance.retryAfterSeconds));
        res.status(429).json({
          errors: [
            {
              message: 'rate limit exceeded for this credential',
              extensions: { code: 'RATE_LIMITED', retryable: true },
            },
          ],
        });
        return;
      }
      const report = await options.services.reconciliationReports.open(principal, String(req.params.runId));
      res.status(200);
      res.setHeader('Content-Type', 'text/csv; charset=utf-8');
      res.setHeader('Content-Disposition', `attachment; filename="reconciliation-${report.runId}.csv"`);
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Cache-Control', 'no-store');
      for await (const chunk of report.chunks) {
        if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', () => resolve()));
      }
      res.end();
    } catch (error) {
      if (res.headersSent) {
        options.logger.error('reconciliation report failed midway', { requestId, error });
        res.destroy();
        return;
      }
      if (error instanceof DomainError) {
        res.status(STATUS_OF[error.code] ?? 400).json({
          errors: [
            {
              message: error.message,
              extensions: { code: error.code, retryable: ERROR_CATALOG[error.code].retryable },
            },
          ],
        });
        return;
      }
      options.logger.error('reconciliation report failed', { requestId, error });
      res.status(500).json({
        errors: [{ message: 'internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR', retryable: false } }],
      });
    }
  });
}
