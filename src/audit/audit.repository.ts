import type pg from 'pg';
import type { Prisma } from '../generated/prisma/client.js';
import type { Page } from '../platform/pagination.js';
import type { AuditEventRow } from './audit.js';
import { AuditEvent, type AuditEventFilterInput } from './audit.types.js';

/** Audit rows, through Prisma: written inside the caller's transaction, read as filtered pages. */

/** Writes the audit row of a change, in the transaction that makes the change. */
export async function insertAuditEvent(tx: Prisma.TransactionClient, row: AuditEventRow): Promise<void> {
  await tx.auditEvent.create({ data: row });
}

/**
 * The same row from a transaction run on a pg client (`inTransaction`), for changes whose other statements
 * need row locks Prisma cannot express (webhook endpoints, disabled by their delivery worker).
 */
export async function insertAuditEventSql(client: pg.PoolClient, row: AuditEventRow): Promise<void> {
  await client.query(
    `INSERT INTO audit_events (id, root_ledger_id, actor_type, actor_id, operation, target_ids, request_id, client_address)
     VALUES ($1, $2, $3, $4, $5, $6::uuid[], $7, $8)`,
    [
      row.id,
      row.rootLedgerId,
      row.actorType,
      row.actorId,
      row.operation,
      row.targetIds,
      row.requestId,
      row.clientAddress,
    ],
  );
}

/** A root ledger tree's audit trail, newest first, one more than the page. */
export async function selectAuditPage(
  prisma: Prisma.TransactionClient,
  rootLedgerId: string,
  filter: AuditEventFilterInput | null | undefined,
  page: Page,
): Promise<AuditEvent[]> {
  const rows = await prisma.auditEvent.findMany({
    where: {
      rootLedgerId,
      ...(page.after ? { id: { lt: page.after } } : {}),
      ...(filter?.actorId ? { actorId: filter.actorId } : {}),
      ...(filter?.operation ? { operation: filter.operation } : {}),
      ...(filter?.from || filter?.to
        ? { createdAt: { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lte: filter.to } : {}) } }
        : {}),
    },
    orderBy: { id: 'desc' },
    take: page.size + 1,
  });
  return rows.map((row) => Object.assign(new AuditEvent(), row));
}
