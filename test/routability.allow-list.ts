import type { AllowedStatement } from './support/routability';

/**
 * Statements that may touch a tenant table without naming a root (test/statements.routability.ts), each with
 * its reason. Reviewed like code: a new entry needs a reason that holds on Citus (docs/citus-routing.md).
 */
export const ALLOWED_UNROUTED_STATEMENTS: AllowedStatement[] = [];
