import { newId } from '../platform/ids.js';
import type { Principal } from '../authorization/access.core.js';

/** Where a request came from; recorded with every change it makes. */
export interface RequestOrigin {
  principal: Principal;
  requestId: string;
  clientAddress: string | null;
}

/**
 * The root of audit events that belong to no ledger (an API key created with no scope): the nil UUID, which
 * no ledger has (ids are UUIDv7). Every audit row has a root so the table is keyed `(root_ledger_id, id)`
 * and can be distributed by root (docs/citus-routing.md); no ledger's trail ever shows these rows.
 */
export const GLOBAL_AUDIT_ROOT = '00000000-0000-0000-0000-000000000000';

export interface AuditEventRow {
  id: string;
  rootLedgerId: string;
  actorType: string;
  actorId: string;
  operation: string;
  targetIds: string[];
  requestId: string;
  clientAddress: string | null;
}

/** The audit row a mutation writes in its own database transaction. */
export function auditEvent(
  origin: RequestOrigin,
  operation: string,
  rootLedgerId: string | null,
  targetIds: string[],
): AuditEventRow {
  return {
    id: newId(),
    rootLedgerId: rootLedgerId ?? GLOBAL_AUDIT_ROOT,
    actorType: origin.principal.actorType,
    actorId: origin.principal.actorId,
    operation,
    targetIds,
    requestId: origin.requestId,
    clientAddress: origin.clientAddress,
  };
}
