import type { Database } from '../platform/db.js';
import { readPage, toConnection, type Connection } from '../platform/pagination.js';
import { AuditEvent, type AuditEventFilterInput } from './audit.types.js';

export class AuditService {
  constructor(private readonly db: Database) {}

  /** A root ledger tree's audit trail, newest first. */
  async list(rootLedgerId: string, filter: AuditEventFilterInput | null | undefined, first?: number | null, after?: string | null): Promise<Connection<AuditEvent>> {
    const page = readPage(first, after);
    const rows = await this.db.prisma.auditEvent.findMany({
      where: {
        rootLedgerId,
        ...(page.after ? { id: { lt: page.after } } : {}),
        ...(filter?.actorId ? { actorId: filter.actorId } : {}),
        ...(filter?.operation ? { operation: filter.operation } : {}),
        ...(filter?.from || filter?.to ? { createdAt: { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lte: filter.to } : {}) } } : {}),
      },
      orderBy: { id: 'desc' },
      take: page.size + 1,
    });
    return toConnection(rows.map((row) => Object.assign(new AuditEvent(), row)), page);
  }
}
