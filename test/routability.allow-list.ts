import type { AllowedStatement } from './support/routability';

/**
 * Statements that may touch a tenant table without naming a root (test/statements.routability.ts), each with
 * its reason. Reviewed like code: a new entry needs a reason that holds on Citus (docs/citus-routing.md).
 */
export const ALLOWED_UNROUTED_STATEMENTS: AllowedStatement[] = [
  {
    pattern:
      /^SELECT id, root_ledger_id AS root FROM (ledgers|accounts|transactions|reconciliation_sources|reconciliation_runs|reconciliation_records|reconciliation_exceptions) WHERE id = ANY\(\$1::uuid\[\]\)$/,
    reason:
      'The root directory miss (src/platform/root-directory.repository.ts): the one statement that finds the ' +
      'root of an id first seen by this process. It reaches every shard once per id per process; every ' +
      'statement after it names the root.',
  },
  {
    pattern: /^SELECT .* FROM gift_cards c WHERE c\.code_digest = \$1$/,
    reason:
      'A gift card is presented by its secret code alone (giftCardBalance, redeemGiftCard by code): nothing in ' +
      'the request names its tree. One fan-out per presentation; the card found carries its root for the rest ' +
      'of the request. Routing it would need the root in the code or a code → root reference table.',
  },
];
