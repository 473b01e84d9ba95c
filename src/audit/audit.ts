import { newId } from '../platform/ids.js';
import type { Principal } from '../authorization/access.core.js';

/** Where a request came from; recorded with every change it makes. */
export interface RequestOrigin {
  principal: Principal;
  requestId: string;
  clientAddress: string | null;
}

export interface AuditEventRow {
  id: string;
  rootLedgerId: string | null;
  actorType: string;
  actorId: string;
  operation: string;
  targetIds: string[];
  requestId: string;
  clientAddress: string | null;
}

/** The audit row a mutation writes in its own database transaction. */
export function auditEvent(origin: RequestOrigin, operation: string, rootLedgerId: string | null, targetIds: string[]): AuditEventRow {
  return {
    id: newId(),
    rootLedgerId,
    actorType: origin.principal.actorType,
    actorId: origin.principal.actorId,
    operation,
    targetIds,
    requestId: origin.requestId,
    clientAddress: origin.clientAddress,
  };
}
