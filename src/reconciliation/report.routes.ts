import type express from 'express';
import type { ReportService } from './report.service.js';
import { admit, refusalOf, sendRefusal, type HttpEdgeOptions } from './http-edge.js';

export const REPORT_ROUTE = '/reconciliation/runs/:runId/report.csv';

export interface ReportRouteOptions extends HttpEdgeOptions {
  services: HttpEdgeOptions['services'] & { reconciliationReports: ReportService };
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
      const principal = await admit(req, options);
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
      sendRefusal(res, refusalOf(error, requestId, options.logger));
    }
  });
}
