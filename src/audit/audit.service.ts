import type { Database } from '../platform/db.js';
import { readPage, toConnection, type Connection } from '../platform/pagination.js';
import { selectAuditPage } from './audit.repository.js';
import type { AuditEvent, AuditEventFilterInput } from './audit.types.js';

export class AuditService {
  constructor(private readonly db: Database) {}

  /** A root ledger tree's audit trail, newest first. */
  async list(
    rootLedgerId: string,
    filter: AuditEventFilterInput | null | undefined,
    first?: number | null,
    after?: string | null,
  ): Promise<Connection<AuditEvent>> {
    const page = readPage(first, after);
    const rows = await this.db.stale(({ prisma }) => selectAuditPage(prisma, rootLedgerId, filter, page));
    return toConnection(rows, page);
  }
}
