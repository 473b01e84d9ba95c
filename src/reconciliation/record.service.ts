import type { Database } from '../platform/db.js';
import { BadInputError } from '../platform/errors.js';
import { readPage, toConnection, type Connection } from '../platform/pagination.js';
import type { RequestOrigin } from '../audit/audit.js';
import { EXTERNAL_ID_LENGTH_MAX } from './record.core.js';
import {
  selectMatchedTransactions,
  selectRecordPage,
  selectRecordsByIds,
  type RecordRow,
} from './record.repository.js';
import type { ExternalRecordStatus } from './reconciliation.enums.js';
import { ExternalRecord } from './record.types.js';
import type { SourceService } from './source.service.js';
import type { Direction } from '../transactions/transaction.types.js';

export function toRecord(row: RecordRow): ExternalRecord {
  return Object.assign(new ExternalRecord(), {
    ...row,
    direction: row.direction as Direction,
    status: row.status as ExternalRecordStatus,
  });
}

/** Reads of a source's records: anyone who may read the source's ledger. */
export class RecordService {
  constructor(
    private readonly db: Database,
    private readonly sources: SourceService,
  ) {}

  async list(
    origin: RequestOrigin,
    sourceId: string,
    filter: { status?: ExternalRecordStatus | null; externalId?: string | null },
    first: number | null | undefined,
    after: string | null | undefined,
  ): Promise<Connection<ExternalRecord>> {
    const source = await this.sources.reachable(origin, 'externalRecords', sourceId, 'sourceId');
    const page = readPage(first, after);
    const externalId = filter.externalId ?? null;
    if (externalId !== null && (externalId.length === 0 || externalId.length > EXTERNAL_ID_LENGTH_MAX))
      throw new BadInputError(`externalId must be 1 to ${EXTERNAL_ID_LENGTH_MAX} characters`);
    // A list: slightly stale is fine (a replica), but never older than the caller's own last write.
    const rows = await this.db.stale(({ pool }) =>
      selectRecordPage(
        pool,
        source.rootLedgerId,
        source.id,
        { status: filter.status ?? null, externalId },
        page.after,
        page.size,
      ),
    );
    return toConnection(rows.map(toRecord), page);
  }

  /** The transaction each record is matched to, for the request loaders. */
  matchedTransactions(recordIds: string[]): Promise<Array<{ recordId: string; transactionId: string }>> {
    return this.db.roots.readByRoot('reconciliation_records', recordIds, (root, ids) =>
      selectMatchedTransactions(this.db.pool, root, ids),
    );
  }

  /** Records by id, for the loaders of objects that name one (a reconciliation exception). */
  async fetchByIds(ids: string[]): Promise<ExternalRecord[]> {
    const rows = await this.db.roots.readByRoot('reconciliation_records', ids, (root, rootIds) =>
      selectRecordsByIds(this.db.pool, root, rootIds),
    );
    return rows.map(toRecord);
  }
}
