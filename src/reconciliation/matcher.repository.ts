import type pg from 'pg';
import { metadataKeyOf, type MatchRuleSpec } from './matcher.core.js';

/**
 * The set-based matcher: a handful of statements over temporary tables, whatever the number of records.
 * A run (run.repository.ts) and the continuous matcher (continuous.repository.ts) fill the two sides,
 * then call `applyRules`, which pairs them rule by rule in priority order.
 *
 *   rr_records  one row per record considered: its amount signed from the account's side (CREDIT +)
 *   rr_lines    one row per (transaction, non-system account of the subtree, asset): that account's net
 *               movement in the asset, signed the same way (gain +), with the transaction's reference
 *               fields; `open` is false for a transaction already matched or settled for the source
 *   rr_pairs    what the rules decided: MATCH, AMOUNT_MISMATCH, DUPLICATE_EXTERNAL, AMBIGUOUS; a record
 *               is in it at most once
 *
 * The tables live until the end of the caller's database transaction (ON COMMIT DROP) and are analyzed
 * once filled: a temporary table has no statistics otherwise, and the planner then picks nested loops
 * that make a 100,000-record run quadratic.
 */

/** Temporary buffers a matching connection asks for, once (see giveTemporaryBuffers). */
const TEMP_BUFFERS = '256MB';
const buffered = new WeakSet<object>();

/**
 * A run of 100,000 records fills more than the default 8 MB of temporary buffers, and its temporary
 * tables then go through files. Postgres takes the setting only before a session's first temporary
 * table, so it is asked once per pooled connection, under a savepoint: on a connection that already used
 * temporary tables (another module's, or an import's that set it already) it fails, and the default stays.
 */
async function giveTemporaryBuffers(client: pg.PoolClient): Promise<void> {
  if (buffered.has(client)) return;
  buffered.add(client);
  await client.query('SAVEPOINT temp_buffers');
  try {
    await client.query(`SET temp_buffers = '${TEMP_BUFFERS}'`);
    await client.query('RELEASE SAVEPOINT temp_buffers');
  } catch {
    await client.query('ROLLBACK TO SAVEPOINT temp_buffers');
  }
}

export async function createMatcherTables(client: pg.PoolClient): Promise<void> {
  await giveTemporaryBuffers(client);
  await client.query(`
    CREATE TEMP TABLE rr_records (
      record_id uuid NOT NULL, external_id text NOT NULL, asset_id uuid NOT NULL, amount bigint NOT NULL,
      occurred_at timestamptz NOT NULL, reference text, account_code text, in_window boolean NOT NULL,
      matched_transaction_id uuid, matched_rule_id uuid
    ) ON COMMIT DROP;
    CREATE TEMP TABLE rr_lines (
      transaction_id uuid NOT NULL, account_id uuid NOT NULL, account_code text NOT NULL, asset_id uuid NOT NULL,
      amount bigint NOT NULL, effective_at timestamptz NOT NULL, idempotency_key text NOT NULL, metadata jsonb,
      in_window boolean NOT NULL, open boolean NOT NULL, matched boolean NOT NULL
    ) ON COMMIT DROP;
    CREATE TEMP TABLE rr_pairs (
      record_id uuid NOT NULL, transaction_id uuid, account_id uuid, asset_id uuid NOT NULL, rule_id uuid,
      record_amount bigint NOT NULL, ledger_amount bigint, kind text NOT NULL, previous boolean NOT NULL DEFAULT false
    ) ON COMMIT DROP;`);
}

/** Statistics from a small sample (3,000 rows) are enough for the planner to pick hash joins. */
export async function analyzeMatcherTables(client: pg.PoolClient): Promise<void> {
  await client.query('SET LOCAL default_statistics_target = 10; ANALYZE rr_records; ANALYZE rr_lines');
}

/**
 * The ledger lines of the subtree under `ledgerId` whose entries are effective in [from, to], of POSTED
 * transactions (a hold's pending entries are not movements), non-system accounts only; or, with
 * `transactionIds`, the lines of exactly those transactions. `inWindow` marks the lines effective in the
 * run's own window (the read may be wider, see ledgerWindow). The statement's snapshot is returned: it is
 * the run's journal high-water mark.
 */
export async function insertLedgerLines(
  client: pg.PoolClient,
  scope: { rootLedgerId: string; sourceId: string; ledgerId: string },
  read: { from: Date; to: Date } | { transactionIds: string[] },
  window: { from: Date; to: Date } | null,
  rules: readonly MatchRuleSpec[],
): Promise<string> {
  // Only the metadata keys the rules compare are kept: the lines stay narrow, which keeps the temporary
  // table in memory (temp_buffers) and its ANALYZE short.
  const metadataKeys = [
    ...new Set(rules.map((rule) => metadataKeyOf(rule.referenceField)).filter((key) => key !== null)),
  ];
  const byWindow = 'from' in read;
  const { rows } = await client.query<{ snapshot: string }>(
    `WITH scope AS (
       SELECT l.id FROM ledgers l WHERE l.root_ledger_id = $1 AND l.path @> ARRAY[$3::uuid]
     ), movements AS (
       -- The account's code is taken here, with its side and kind, not by a second join afterwards: that
       -- join made the planner expect a tenth of the lines, and probe transactions_pkey once per line in a
       -- nested loop rather than hash the two sides (0.5 s of a 100,000-line read).
       SELECT e.transaction_id, e.account_id, a.code AS account_code, e.asset_id,
              sum(CASE WHEN (e.direction = 'CREDIT') = (a.normal_balance = 'CREDIT') THEN e.amount ELSE -e.amount END) AS amount
         FROM entries e
         JOIN accounts a ON a.root_ledger_id = e.root_ledger_id AND a.id = e.account_id
        WHERE e.root_ledger_id = $1 AND e.ledger_id IN (SELECT id FROM scope) AND NOT e.pending AND NOT a.is_system
          AND ${byWindow ? 'e.effective_at BETWEEN $4 AND $5' : 'e.transaction_id = ANY ($4::uuid[]) AND $5::timestamptz IS NULL'}
        GROUP BY e.transaction_id, e.account_id, a.code, e.asset_id
     ), inserted AS (
       INSERT INTO rr_lines (transaction_id, account_id, account_code, asset_id, amount, effective_at, idempotency_key,
                             metadata, in_window, open, matched)
       SELECT m.transaction_id, m.account_id, m.account_code, m.asset_id, m.amount, t.effective_at, t.idempotency_key,
              CASE WHEN cardinality($8::text[]) = 0 THEN NULL
                   ELSE (SELECT jsonb_object_agg(k.key, t.metadata -> k.key) FROM unnest($8::text[]) AS k(key)
                          WHERE t.metadata ? k.key) END,
              $6::timestamptz IS NOT NULL AND t.effective_at BETWEEN $6 AND $7,
              NOT EXISTS (SELECT 1 FROM reconciliation_matches rm
                           WHERE rm.root_ledger_id = $1 AND rm.source_id = $2 AND rm.transaction_id = m.transaction_id)
              AND NOT EXISTS (SELECT 1 FROM reconciliation_exceptions x
                               WHERE x.root_ledger_id = $1 AND x.source_id = $2 AND x.status = 'RESOLVED'
                                 AND x.transaction_id = m.transaction_id)
              AND NOT EXISTS (SELECT 1 FROM reconciliation_exceptions x
                               WHERE x.root_ledger_id = $1 AND x.source_id = $2
                                 AND x.resolution_transaction_id = m.transaction_id),
              EXISTS (SELECT 1 FROM reconciliation_matches rm
                       WHERE rm.root_ledger_id = $1 AND rm.source_id = $2 AND rm.transaction_id = m.transaction_id)
         FROM movements m
         JOIN transactions t ON t.root_ledger_id = $1 AND t.id = m.transaction_id
        WHERE t.status = 'POSTED'
       RETURNING 1
     )
     SELECT pg_current_snapshot()::text AS snapshot, (SELECT count(*) FROM inserted) AS lines`,
    [
      scope.rootLedgerId,
      scope.sourceId,
      scope.ledgerId,
      byWindow ? read.from : read.transactionIds,
      byWindow ? read.to : null,
      window?.from ?? null,
      window?.to ?? null,
      metadataKeys,
    ],
  );
  return rows[0]!.snapshot;
}

/**
 * Pairs open records with open lines, one rule at a time in priority order, then declares amount
 * mismatches. For each rule, a candidate is a record and a transaction whose reference field equals the
 * record's reference, in the record's asset, on the record's account when the rule says so, within the
 * rule's date window and amount tolerance (one candidate per transaction: its closest line). Then:
 * - a record with candidates in several transactions is AMBIGUOUS (left for a person to choose);
 * - of the records whose only candidate is one transaction, the closest (amount, then time, then external
 *   id) is its MATCH, and the others are DUPLICATE_EXTERNAL: two current records claim one transaction.
 * After every rule has had its turn, a record left whose reference still finds a transaction, beyond
 * every tolerance, is an AMOUNT_MISMATCH with its closest such transaction (one record per transaction).
 * Ties are broken by ids, so the same inputs always give the same pairs.
 */
export async function applyRules(
  client: pg.PoolClient,
  rules: readonly MatchRuleSpec[],
  options: { analyze?: boolean } = {},
): Promise<void> {
  for (const rule of rules) await applyRule(client, rule, 'MATCH');
  for (const rule of rules) await applyRule(client, rule, 'AMOUNT_MISMATCH');
  // With `analyze` (a run's 100,000s of pairs), the pairs get statistics once made: the run's report then
  // anti-joins the records and lines against them by hash, not by sorting both sides (the planner's choice
  // for a table it believed empty). Not between the passes: with them, the AMOUNT_MISMATCH pass tested
  // `taken` per candidate by a scan of the pairs, 10 s for 100,000 records.
  if (options.analyze === true) await client.query('ANALYZE rr_pairs');
}

async function applyRule(client: pg.PoolClient, rule: MatchRuleSpec, pass: 'MATCH' | 'AMOUNT_MISMATCH'): Promise<void> {
  const key = metadataKeyOf(rule.referenceField);
  const reference = key === null ? 'l.idempotency_key' : `(l.metadata ->> $5::text)`;
  const amountTest =
    pass === 'MATCH' ? 'abs(r.amount - l.amount) <= $2::bigint' : 'abs(r.amount - l.amount) > $2::bigint';
  // A transaction already matched (before this run, or by an earlier rule of it) is still a candidate
  // of the MATCH pass, as `taken`: a record whose only candidates are taken is a duplicate of their match.
  // The records still open are taken first, so the later passes (most records decided) join only those.
  const openRecords = `SELECT r.* FROM rr_records r
     WHERE r.reference IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rr_pairs p WHERE p.record_id = r.record_id)`;
  const candidates = `
    SELECT DISTINCT ON (r.record_id, l.transaction_id)
           r.record_id, r.external_id, l.transaction_id, l.account_id, r.asset_id, r.amount AS record_amount,
           l.amount AS ledger_amount, abs(r.amount - l.amount) AS amount_gap,
           abs(extract(epoch FROM r.occurred_at - l.effective_at)) AS time_gap, l.open, l.matched,
           (NOT l.open OR EXISTS (SELECT 1 FROM rr_pairs p WHERE p.transaction_id = l.transaction_id
                                     AND p.kind IN ('MATCH', 'AMOUNT_MISMATCH'))) AS taken
      FROM open_records r
      JOIN rr_lines l ON ${reference} = r.reference AND l.asset_id = r.asset_id
     WHERE ($3::boolean = false OR l.account_code = r.account_code)
       AND ${amountTest}
       AND l.effective_at BETWEEN r.occurred_at - make_interval(secs => $4::int) AND r.occurred_at + make_interval(secs => $4::int)
     ORDER BY r.record_id, l.transaction_id, amount_gap, time_gap, l.account_id`;
  const values: unknown[] = [rule.id, rule.amountTolerance.toString(), rule.matchAccount, rule.dateWindowSeconds];
  if (key !== null) values.push(key);
  if (pass === 'MATCH') {
    await client.query(
      `WITH open_records AS MATERIALIZED (${openRecords}), candidates AS (${candidates}),
       lines AS (SELECT c.* FROM candidates c WHERE c.open OR c.matched),
       free AS (SELECT c.*, count(*) OVER (PARTITION BY c.record_id) AS choices FROM lines c WHERE NOT c.taken),
       ranked AS (
         SELECT c.*, row_number() OVER (PARTITION BY c.transaction_id
                                        ORDER BY c.amount_gap, c.time_gap, c.external_id, c.record_id) AS claim
           FROM free c WHERE c.choices = 1),
       duplicates AS (
         SELECT DISTINCT ON (c.record_id) c.* FROM lines c
          WHERE c.taken AND NOT EXISTS (SELECT 1 FROM free f WHERE f.record_id = c.record_id)
          ORDER BY c.record_id, c.amount_gap, c.time_gap, c.transaction_id)
       INSERT INTO rr_pairs (record_id, transaction_id, account_id, asset_id, rule_id, record_amount, ledger_amount, kind)
       SELECT record_id, transaction_id, account_id, asset_id, $1::uuid, record_amount, ledger_amount,
              CASE WHEN claim = 1 THEN 'MATCH' ELSE 'DUPLICATE_EXTERNAL' END
         FROM ranked
       UNION ALL
       SELECT DISTINCT ON (record_id) record_id, NULL::uuid, NULL::uuid, asset_id, $1::uuid, record_amount, NULL::bigint, 'AMBIGUOUS'
         FROM free WHERE choices > 1
       UNION ALL
       SELECT record_id, transaction_id, account_id, asset_id, $1::uuid, record_amount, ledger_amount, 'DUPLICATE_EXTERNAL'
         FROM duplicates`,
      values,
    );
  } else {
    await client.query(
      `WITH open_records AS MATERIALIZED (${openRecords}), candidates AS (${candidates}),
       closest AS (
         SELECT DISTINCT ON (c.record_id) c.* FROM candidates c
          WHERE NOT c.taken
          ORDER BY c.record_id, c.amount_gap, c.time_gap, c.transaction_id),
       ranked AS (
         SELECT c.*, row_number() OVER (PARTITION BY c.transaction_id
                                        ORDER BY c.amount_gap, c.time_gap, c.external_id, c.record_id) AS claim
           FROM closest c)
       INSERT INTO rr_pairs (record_id, transaction_id, account_id, asset_id, rule_id, record_amount, ledger_amount, kind)
       SELECT record_id, transaction_id, account_id, asset_id, $1::uuid, record_amount, ledger_amount, 'AMOUNT_MISMATCH'
         FROM ranked WHERE claim = 1`,
      values,
    );
  }
}
