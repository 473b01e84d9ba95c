import type { Database } from '../platform/db.js';
import type { Principal } from '../authorization/access.core.js';
import { NotFoundError } from '../platform/errors.js';
import { csvNumber, csvRow, csvText, REPORT_COLUMNS } from './report.core.js';
import { selectExceptionLines, selectMatchLines, type ReportLine } from './report.repository.js';
import type { RunService } from './run.service.js';

/** Lines read per statement: the report is streamed, never held whole. */
export const REPORT_PAGE_ROWS = 2_000;

/**
 * The run's report as CSV for the finance team's spreadsheet: a header, then every exception (report
 * order), then every matched pair. Anyone who may read the run may read its report.
 */
export class ReportService {
  constructor(
    private readonly db: Database,
    private readonly runs: RunService,
  ) {}

  /** The run's CSV, chunk by chunk; checks access before the first chunk. */
  async open(principal: Principal, runId: string): Promise<{ runId: string; chunks: AsyncIterable<string> }> {
    const run = await this.runs.findById(principal, runId);
    if (run === null) throw new NotFoundError(`reconciliation run ${runId} does not exist`);
    return { runId: run.id, chunks: this.chunks(run) };
  }

  private async *chunks(run: { rootLedgerId: string; id: string }): AsyncIterable<string> {
    yield csvRow([...REPORT_COLUMNS]);
    let number = 0;
    for (const read of [selectExceptionLines, selectMatchLines]) {
      let after: string | null = null;
      for (;;) {
        const lines: ReportLine[] = await read(this.db.pool, run, after, REPORT_PAGE_ROWS);
        if (lines.length === 0) break;
        yield lines.map((line, index) => csvRow(fieldsOf(number + index + 1, line))).join('');
        number += lines.length;
        if (lines.length < REPORT_PAGE_ROWS) break;
        after = lines.at(-1)!.position;
      }
    }
  }
}

function fieldsOf(number: number, line: ReportLine): string[] {
  return [
    String(number),
    line.row === 'MATCH' ? 'MATCHED' : csvText(line.kind),
    line.row === 'MATCH' ? 'MATCHED' : csvText(line.status),
    csvText(line.externalId),
    csvText(line.recordId),
    csvText(line.transactionId),
    csvText(line.reference),
    csvText(line.accountCode),
    csvText(line.asset),
    csvNumber(line.expectedAmount),
    csvNumber(line.ledgerAmount),
    csvNumber(line.difference),
    csvText(line.resolution),
    csvText(line.note),
    csvText(line.exceptionId),
  ];
}
