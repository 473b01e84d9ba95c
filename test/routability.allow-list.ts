import type { AllowedStatement } from './support/routability';

/**
 * Statements that may touch a tenant table without naming a root (test/statements.routability.ts), each with
 * its reason. Reviewed like code: a new entry needs a reason that holds on Citus (docs/citus-routing.md).
 */
export const ALLOWED_UNROUTED_STATEMENTS: AllowedStatement[] = [
  {
    pattern: /^SELECT id, root_ledger_id AS root FROM [a-z_]+ WHERE id = ANY\(\$1::uuid\[\]\)$/,
    reason:
      'The root directory miss (src/platform/root-directory.repository.ts): the one statement that finds the ' +
      'root of an id first seen by this process. It reaches every shard once per id per process; every ' +
      'statement after it names the root.',
  },
  {
    pattern:
      /^SELECT a\.id, a\.root_ledger_id, .* FROM accounts a JOIN ledgers l ON l\.root_ledger_id = a\.root_ledger_id AND l\.id = a\.ledger_id WHERE a\.id = ANY\(\$1::uuid\[\]\)$/,
    reason:
      'The account facts cache’s miss for an account whose root this process does not know yet ' +
      '(readAccountFactsById): it finds the root with the facts, so a posting to an account first seen costs ' +
      'one statement, as before; the root is remembered and every later statement names it.',
  },
  {
    pattern:
      /^SELECT a\.id, a\.root_ledger_id AS "rootLedgerId", .* FROM accounts a WHERE a\.id = ANY\(\$1::uuid\[\]\)$/,
    reason:
      'An account read with its balances by an id this process has not seen (RootDirectory.readKnownByRoot, ' +
      'the read behind `account(id:)`): it returns the root with the row, so a first sight costs one statement, ' +
      'not a directory miss and a read; the root is remembered and every later read names it.',
  },
  {
    pattern:
      /^SELECT .* FROM gift_card_codes k JOIN gift_cards c ON c\.root_ledger_id = k\.root_ledger_id AND c\.id = k\.gift_card_id WHERE k\.code_digest = \$1$/,
    reason:
      'A gift card is presented by its secret code alone (giftCardBalance, redeemGiftCard by code): nothing in ' +
      'the request names its tree. The code → root table (gift_card_codes, a reference table on Citus) gives ' +
      'the root in the same statement, which Citus still plans across shards: one fan-out per presentation, ' +
      'kept as one statement so that a wrong code and a wrong PIN send the same statements. The card found ' +
      'carries its root for the rest of the request.',
  },
  {
    pattern:
      /^SELECT w\.root_ledger_id FROM webhook_endpoints w WHERE w\.status = \$3 GROUP BY w\.root_ledger_id ORDER BY /,
    reason:
      'The webhook dispatcher’s list of the trees that have enabled endpoints (selectDispatchRoots): work ' +
      'across tenants by design, one statement per pass, without locks; it finds roots, and each tree’s ' +
      'endpoints are then claimed (FOR UPDATE SKIP LOCKED) and served by statements that name its root.',
  },
  {
    pattern:
      /^SELECT w\.root_ledger_id FROM webhook_endpoints w WHERE w\.status = \$3 AND EXISTS \(SELECT \$4 FROM webhook_deliveries d WHERE d\.root_ledger_id = w\.root_ledger_id /,
    reason:
      'The delivery workers’ list of the trees with deliveries due (selectDueRoots): a queue shared by all ' +
      'tenants, one statement per fill, without locks; its join is on root_ledger_id. It finds roots; each ' +
      'tree’s due deliveries are then claimed by a statement that names its root.',
  },
  {
    pattern: /^DELETE FROM webhook_deliveries WHERE id IN \(SELECT id FROM webhook_deliveries WHERE id < \$1::uuid /,
    reason:
      'The retention sweep of finished deliveries older than the retention period, across tenants, a bounded ' +
      'batch per run (deleteFinishedDeliveries): maintenance, not a request.',
  },
  {
    pattern: /^SELECT id FROM transactions WHERE status = \$3 AND timeout_at <= \$1 ORDER BY timeout_at LIMIT \$2$/,
    reason:
      'The scheduler’s search for holds past their timeout in every tenant (holdsTimedOut), a bounded page per ' +
      'pass; each hold it finds is voided by statements that name its root.',
  },
  {
    pattern: /^SELECT DISTINCT root_ledger_id FROM lots WHERE remaining > \$3 AND expires_at <= \$1 LIMIT \$2$/,
    reason:
      'The scheduler’s search for trees with expired lots (rootsWithLapsedLots), a bounded page per pass: it ' +
      'finds roots; the expiry of each tree then names its root.',
  },
];
