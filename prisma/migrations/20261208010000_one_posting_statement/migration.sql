-- One posting statement (issue 10). Every write of the posting engine (a posting, an atomic batch, a hold's
-- settlement, an expiry, a reversal) is now one call of write_postings: a batch of planned items, where a
-- single posting is a batch of one. The rules are stated here once (claim, replay, key reuse, account status,
-- floors and clawback debt, program limits, checkpoints, journal, audit); apply_posting and apply_postings,
-- which stated them twice, become translations of it for a server of the previous release during a rolling
-- upgrade.
--
-- A refusal is a row (item, refusal, the ids it names), not an error to parse: the work is done inside a
-- block that a refusal leaves by RLRF1, which rolls back everything the call wrote (the claim, new balance
-- rows, limit counters) before the row is returned. On a lone statement in autocommit that is the whole
-- transaction; inside a caller's transaction it is that caller's to abort.

-- Program limits, charged for one item: the body of apply_posting_limits, answering a refusal with a row
-- (the limit and what remains of it) instead of raising it.
CREATE FUNCTION "charge_posting_limits"(
    p_root_ledger_id uuid,
    p_transaction_id uuid,
    p_kind           text,
    p_effective_at   timestamptz,
    p_customer_ids   uuid[],
    e_account_ids    uuid[],
    e_ledger_ids     uuid[],
    e_asset_ids      uuid[],
    e_directions     text[],
    e_amounts        int8[],
    r_account_ids    uuid[],
    r_ledger_ids     uuid[],
    r_asset_ids      uuid[],
    r_rises          int8[],
    r_later          int8[]
) RETURNS TABLE (o_limit_id uuid, o_remaining int8)
LANGUAGE plpgsql
AS $$
DECLARE
    v_wanted    int;
    v_counted   int;
    v_limit     uuid;
    v_remaining int8;
    v_kind      text := CASE p_kind WHEN 'REDEEM' THEN 'REDEEM_PER_PERIOD'
                                    WHEN 'ISSUE' THEN 'EARN_PER_PERIOD'
                                    WHEN 'ADJUST' THEN 'EARN_PER_PERIOD' END;
    v_direction text := CASE p_kind WHEN 'REDEEM' THEN 'DEBIT' ELSE 'CREDIT' END;
    w_limits    uuid[];
    w_accounts  uuid[];
    w_periods   timestamptz[];
    w_amounts   int8[];
    w_caps      int8[];
BEGIN
    IF current_setting('citus.version', true) IS NULL THEN
        -- The charges wanted; the counters raised where they stay within their limit (created at the first charge
        -- of a period); the charges recorded for the ones raised; and the first ceiling a raised balance passes.
        WITH wanted AS MATERIALIZED (
            SELECT l.id AS limit_id, c.account_id, limit_period_start(l.period, l.time_zone, p_effective_at) AS period_start,
                   c.amount, l.amount AS cap
              FROM (SELECT e.account_id, e.ledger_id, e.asset_id, sum(e.amount)::int8 AS amount
                      FROM unnest(e_account_ids, e_ledger_ids, e_asset_ids, e_directions, e_amounts)
                           AS e(account_id, ledger_id, asset_id, direction, amount)
                     WHERE v_kind IS NOT NULL AND e.direction = v_direction AND e.account_id = ANY (p_customer_ids)
                     GROUP BY e.account_id, e.ledger_id, e.asset_id) c
              JOIN ledgers g ON g.root_ledger_id = p_root_ledger_id AND g.id = c.ledger_id
              JOIN limits l
                ON l.root_ledger_id = p_root_ledger_id AND l.asset_id = c.asset_id AND l.kind = v_kind
               AND l.deleted_at IS NULL AND l.ledger_id = ANY (g.path)
        ), raised AS (
            INSERT INTO limit_usage AS u (root_ledger_id, limit_id, account_id, period_start, used)
            SELECT p_root_ledger_id, w.limit_id, w.account_id, w.period_start, w.amount
              FROM wanted w
             WHERE w.amount <= w.cap
             ORDER BY w.limit_id, w.account_id
            ON CONFLICT (root_ledger_id, limit_id, account_id, period_start) DO UPDATE
               SET used = u.used + EXCLUDED.used
             WHERE u.used <= (SELECT l.amount FROM limits l
                               WHERE l.root_ledger_id = EXCLUDED.root_ledger_id AND l.id = EXCLUDED.limit_id) - EXCLUDED.used
            RETURNING u.limit_id, u.account_id, u.period_start
        ), charged AS (
            INSERT INTO limit_charges (root_ledger_id, transaction_id, limit_id, account_id, period_start, amount)
            SELECT p_root_ledger_id, p_transaction_id, w.limit_id, w.account_id, w.period_start, w.amount
              FROM wanted w JOIN raised r USING (limit_id, account_id, period_start)
            RETURNING 1
        ), ceiling AS (
            SELECT l.id AS limit_id, greatest(l.amount - (x.after - x.rise), 0) AS remaining
              FROM (SELECT r.account_id, r.ledger_id, r.asset_id, r.rise,
                           posted_of(b.normal_balance, b.debits_posted, b.credits_posted) - r.later AS after
                      FROM unnest(r_account_ids, r_ledger_ids, r_asset_ids, r_rises, r_later)
                           AS r(account_id, ledger_id, asset_id, rise, later)
                      JOIN balances b
                        ON b.root_ledger_id = p_root_ledger_id AND b.account_id = r.account_id AND b.asset_id = r.asset_id
                       AND b.shard = 0) x
              JOIN ledgers g ON g.root_ledger_id = p_root_ledger_id AND g.id = x.ledger_id
              JOIN limits l
                ON l.root_ledger_id = p_root_ledger_id AND l.asset_id = x.asset_id AND l.kind = 'MAX_BALANCE'
               AND l.deleted_at IS NULL AND l.ledger_id = ANY (g.path)
             WHERE x.after > l.amount
             ORDER BY l.id, x.account_id
             LIMIT 1
        )
        SELECT (SELECT count(*) FROM wanted), (SELECT count(*) FROM charged), c.limit_id, c.remaining
          INTO v_wanted, v_counted, v_limit, v_remaining
          FROM (SELECT 1) one LEFT JOIN ceiling c ON true;
    ELSE
        -- On Citus this runs on the root's worker, where a statement must be routable to the root's shards
        -- on its own: the one statement above nests INSERT ... SELECT in CTEs, which Citus plans as a
        -- distributed query and refuses there. The same steps, one routable statement each.
        SELECT array_agg(w.limit_id ORDER BY w.limit_id, w.account_id),
               array_agg(w.account_id ORDER BY w.limit_id, w.account_id),
               array_agg(w.period_start ORDER BY w.limit_id, w.account_id),
               array_agg(w.amount ORDER BY w.limit_id, w.account_id),
               array_agg(w.cap ORDER BY w.limit_id, w.account_id)
          INTO w_limits, w_accounts, w_periods, w_amounts, w_caps
          FROM (SELECT l.id AS limit_id, c.account_id, limit_period_start(l.period, l.time_zone, p_effective_at) AS period_start,
               c.amount, l.amount AS cap
          FROM (SELECT e.account_id, e.ledger_id, e.asset_id, sum(e.amount)::int8 AS amount
                  FROM unnest(e_account_ids, e_ledger_ids, e_asset_ids, e_directions, e_amounts)
                       AS e(account_id, ledger_id, asset_id, direction, amount)
                 WHERE v_kind IS NOT NULL AND e.direction = v_direction AND e.account_id = ANY (p_customer_ids)
                 GROUP BY e.account_id, e.ledger_id, e.asset_id) c
          JOIN ledgers g ON g.root_ledger_id = p_root_ledger_id AND g.id = c.ledger_id
          JOIN limits l
            ON l.root_ledger_id = p_root_ledger_id AND l.asset_id = c.asset_id AND l.kind = v_kind
           AND l.deleted_at IS NULL AND l.ledger_id = ANY (g.path)) w;
        v_wanted := coalesce(cardinality(w_limits), 0);
        v_counted := 0;
        FOR i IN 1 .. v_wanted LOOP
            CONTINUE WHEN w_amounts[i] > w_caps[i];
            INSERT INTO limit_usage AS u (root_ledger_id, limit_id, account_id, period_start, used)
            VALUES (p_root_ledger_id, w_limits[i], w_accounts[i], w_periods[i], w_amounts[i])
            ON CONFLICT (root_ledger_id, limit_id, account_id, period_start) DO UPDATE
               SET used = u.used + EXCLUDED.used
             WHERE u.used <= w_caps[i] - EXCLUDED.used;
            IF FOUND THEN
                INSERT INTO limit_charges (root_ledger_id, transaction_id, limit_id, account_id, period_start, amount)
                VALUES (p_root_ledger_id, p_transaction_id, w_limits[i], w_accounts[i], w_periods[i], w_amounts[i]);
                v_counted := v_counted + 1;
            END IF;
        END LOOP;
        SELECT c.limit_id, c.remaining INTO v_limit, v_remaining
          FROM (SELECT l.id AS limit_id, greatest(l.amount - (x.after - x.rise), 0) AS remaining
          FROM (SELECT r.account_id, r.ledger_id, r.asset_id, r.rise,
                       posted_of(b.normal_balance, b.debits_posted, b.credits_posted) - r.later AS after
                  FROM unnest(r_account_ids, r_ledger_ids, r_asset_ids, r_rises, r_later)
                       AS r(account_id, ledger_id, asset_id, rise, later)
                  JOIN balances b
                    ON b.root_ledger_id = p_root_ledger_id AND b.account_id = r.account_id AND b.asset_id = r.asset_id
                   AND b.shard = 0) x
          JOIN ledgers g ON g.root_ledger_id = p_root_ledger_id AND g.id = x.ledger_id
          JOIN limits l
            ON l.root_ledger_id = p_root_ledger_id AND l.asset_id = x.asset_id AND l.kind = 'MAX_BALANCE'
           AND l.deleted_at IS NULL AND l.ledger_id = ANY (g.path)
         WHERE x.after > l.amount
         ORDER BY l.id, x.account_id
         LIMIT 1) c;
    END IF;

    IF v_counted < v_wanted THEN
        SELECT l.id, greatest(l.amount - coalesce(u.used, 0), 0)
          INTO v_limit, v_remaining
          FROM (SELECT e.account_id, e.ledger_id, e.asset_id, sum(e.amount)::int8 AS amount
                  FROM unnest(e_account_ids, e_ledger_ids, e_asset_ids, e_directions, e_amounts)
                       AS e(account_id, ledger_id, asset_id, direction, amount)
                 WHERE e.direction = v_direction AND e.account_id = ANY (p_customer_ids)
                 GROUP BY e.account_id, e.ledger_id, e.asset_id) c
          JOIN ledgers g ON g.root_ledger_id = p_root_ledger_id AND g.id = c.ledger_id
          JOIN limits l
            ON l.root_ledger_id = p_root_ledger_id AND l.asset_id = c.asset_id AND l.kind = v_kind
           AND l.deleted_at IS NULL AND l.ledger_id = ANY (g.path)
          LEFT JOIN limit_usage u
            ON u.root_ledger_id = p_root_ledger_id AND u.limit_id = l.id AND u.account_id = c.account_id
           AND u.period_start = limit_period_start(l.period, l.time_zone, p_effective_at)
         WHERE coalesce(u.used, 0)::numeric + c.amount > l.amount
         ORDER BY l.id, c.account_id
         LIMIT 1;
    END IF;
    -- The refusal, as a row: the caller rolls back what this charged and answers with it.
    IF v_limit IS NOT NULL THEN
        RETURN QUERY SELECT v_limit, v_remaining;
    END IF;
END;
$$;

CREATE FUNCTION "write_postings"(
    p_root_ledger_id      uuid,
    -- customer accounts of every item, sorted: share-locked so a concurrent freeze or close waits for this write
    p_account_ids         uuid[],
    -- refuse unless every customer account is ACTIVE; releasing a hold is allowed on any
    p_require_active      boolean,
    -- a reversal that may leave clawback debt: a balance it takes below its floor keeps the shortfall as debt
    p_allow_debt          boolean,
    -- one element per item; t_ids[i] is null for a hold's release, which writes no transaction
    t_ids                 uuid[],
    t_ledger_ids          uuid[],
    t_kinds               text[],
    t_statuses            text[],
    t_idempotency_keys    text[],
    t_request_hashes      text[],
    t_descriptions        text[],
    t_metadata            jsonb[],
    t_effective_at        timestamptz[],
    t_posted_at           timestamptz[],
    t_reversal_of_ids     uuid[],
    t_is_hold             boolean[],
    t_timeout_at          timestamptz[],
    -- a backdated item: checkpoints of its accounts at or after this instant are no longer true
    t_checkpoints_from    timestamptz[],
    t_audit_ids           uuid[],
    -- what the item's audit event names before its own transaction (a settled hold), or null
    t_audit_subjects      uuid[],
    -- the actor, the same for every item's audit event
    a_actor_type          text,
    a_actor_id            text,
    a_operation           text,
    a_request_id          text,
    a_client_address      text,
    -- balance changes, one per item and balance row, each item's sorted by (account, asset)
    d_items               int[],
    d_account_ids         uuid[],
    d_asset_ids           uuid[],
    d_shards              int2[],
    d_ledger_ids          uuid[],
    d_normal_balances     text[],
    d_available_floors    int8[],
    d_debits_posted       int8[],
    d_credits_posted      int8[],
    d_debits_pending      int8[],
    d_credits_pending     int8[],
    -- journal lines
    e_items               int[],
    e_ids                 uuid[],
    e_account_ids         uuid[],
    e_ledger_ids          uuid[],
    e_asset_ids           uuid[],
    e_directions          text[],
    e_amounts             int8[]
) RETURNS TABLE (
    o_item             int,
    -- APPLIED (one row per balance row the item changed), CLAIM_TAKEN (a replay: the same request holds the
    -- key) or REFUSED (one row, and nothing was written)
    o_outcome          text,
    -- ACCOUNT_NOT_ACTIVE, INSUFFICIENT_FUNDS, LIMIT_EXCEEDED, IDEMPOTENCY_CONFLICT or ALREADY_REVERSED
    o_refusal          text,
    -- the accounts refused (not active, or below their floor), with their statuses when not active
    o_refused_ids      uuid[],
    o_refused_statuses text[],
    o_limit_id         uuid,
    o_remaining        int8,
    -- the transaction that holds the key a different request reused
    o_original_id      uuid,
    o_account_id       uuid,
    o_asset_id         uuid,
    o_shard            int2,
    o_debits_posted    int8,
    o_credits_posted   int8,
    o_debits_pending   int8,
    o_credits_pending  int8,
    o_version          int8,
    o_updated_at       timestamptz
)
LANGUAGE plpgsql
-- Generic plans: every call has the same shape, and re-planning each statement per call cost as much
-- CPU as executing it (see src/platform/transaction.ts).
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_inactive         uuid[];
    v_statuses         text[];
    -- the items this call writes (a release claims nothing and is always written), and the replays
    v_claimed          int[];
    v_taken            int[];
    v_has_limits       boolean;
    v_changed          int;
    v_expected         int;
    -- a refusal, kept in variables, which the rollback of the block leaves alone
    v_item             int;
    v_refusal          text;
    v_refused          uuid[];
    v_refused_statuses text[];
    v_limit            uuid;
    v_remaining        int8;
    v_original         uuid;
    -- the balance rows as the update left them
    c_account_ids      uuid[];
    c_asset_ids        uuid[];
    c_shards           int2[];
    c_debits_posted    int8[];
    c_credits_posted   int8[];
    c_debits_pending   int8[];
    c_credits_pending  int8[];
    c_versions         int8[];
    c_updated_at       timestamptz[];
BEGIN
    -- FOR KEY SHARE on the newest version of each row: its status is current, and a freeze or close,
    -- which takes FOR UPDATE, waits until this write commits. System accounts never change status and
    -- are not locked, so the hot ones collect no lockers.
    SELECT array_agg(a.id ORDER BY a.id) FILTER (WHERE a.status <> 'ACTIVE'),
           array_agg(a.status::text ORDER BY a.id) FILTER (WHERE a.status <> 'ACTIVE')
      INTO v_inactive, v_statuses
      FROM (SELECT id, status FROM accounts
             WHERE root_ledger_id = p_root_ledger_id AND id = ANY (p_account_ids)
             ORDER BY id
               FOR KEY SHARE) a;

    BEGIN
        -- Claim each item's idempotency key (and reversal): waits for a concurrent claimant of the same
        -- key, then wins or yields to it. A key taken earlier in the same batch yields to that item.
        WITH claimed AS (
            INSERT INTO transactions (id, root_ledger_id, ledger_id, kind, status, idempotency_key, request_hash, description,
                                      metadata, effective_at, posted_at, reversal_of_id, is_hold, timeout_at)
            SELECT t.id, p_root_ledger_id, t.ledger_id, t.kind::"TransactionKind", t.status::"TransactionStatus", t.idempotency_key,
                   t.request_hash, t.description, t.metadata, t.effective_at, t.posted_at, t.reversal_of_id, t.is_hold, t.timeout_at
              FROM unnest(t_ids, t_ledger_ids, t_kinds, t_statuses, t_idempotency_keys, t_request_hashes, t_descriptions, t_metadata,
                          t_effective_at, t_posted_at, t_reversal_of_ids, t_is_hold, t_timeout_at)
                   WITH ORDINALITY AS t(id, ledger_id, kind, status, idempotency_key, request_hash, description, metadata,
                                        effective_at, posted_at, reversal_of_id, is_hold, timeout_at, item)
             WHERE t.id IS NOT NULL
             ORDER BY t.item
            ON CONFLICT DO NOTHING
            RETURNING id
        )
        SELECT coalesce(array_agg(t.item::int ORDER BY t.item) FILTER (WHERE t.id IS NULL OR c.id IS NOT NULL), '{}'),
               coalesce(array_agg(t.item::int ORDER BY t.item) FILTER (WHERE t.id IS NOT NULL AND c.id IS NULL), '{}')
          INTO v_claimed, v_taken
          FROM unnest(t_ids) WITH ORDINALITY AS t(id, item)
          LEFT JOIN claimed c ON c.id = t.id;

        IF cardinality(v_taken) > 0 THEN
            -- A key held by the same request is a replay of that item; by a different request, or a
            -- reversal of a transaction already reversed, refuses the whole batch.
            SELECT k.item, x.id
              INTO v_item, v_original
              FROM unnest(v_taken) AS k(item)
              LEFT JOIN transactions x
                ON x.root_ledger_id = p_root_ledger_id AND x.idempotency_key = t_idempotency_keys[k.item]
             WHERE x.id IS NULL OR x.request_hash <> t_request_hashes[k.item]
             ORDER BY k.item
             LIMIT 1;
            IF v_item IS NOT NULL THEN
                IF v_original IS NULL AND t_reversal_of_ids[v_item] IS NULL THEN
                    RAISE EXCEPTION 'write_postings: item % lost its claim to a transaction that cannot be found', v_item;
                END IF;
                v_refusal := CASE WHEN v_original IS NULL THEN 'ALREADY_REVERSED' ELSE 'IDEMPOTENCY_CONFLICT' END;
                RAISE SQLSTATE 'RLRF1';
            END IF;
            IF cardinality(v_claimed) = 0 THEN
                -- Every item a replay, answered with its original even if an account has been frozen since.
                RETURN QUERY SELECT k.item, 'CLAIM_TAKEN'::text, NULL::text, NULL::uuid[], NULL::text[], NULL::uuid, NULL::int8,
                                    NULL::uuid, NULL::uuid, NULL::uuid, NULL::int2, NULL::int8, NULL::int8, NULL::int8,
                                    NULL::int8, NULL::int8, NULL::timestamptz
                               FROM unnest(v_taken) AS k(item);
                RETURN;
            END IF;
        END IF;

        IF p_require_active AND v_inactive IS NOT NULL THEN
            SELECT min(d.item) INTO v_item
              FROM unnest(d_items, d_account_ids) AS d(item, account_id)
             WHERE d.item = ANY (v_claimed) AND d.account_id = ANY (v_inactive);
            IF v_item IS NOT NULL THEN
                SELECT array_agg(i.id ORDER BY i.id), array_agg(i.status ORDER BY i.id)
                  INTO v_refused, v_refused_statuses
                  FROM unnest(v_inactive, v_statuses) AS i(id, status)
                 WHERE i.id = ANY (SELECT d.account_id FROM unnest(d_items, d_account_ids) AS d(item, account_id)
                                    WHERE d.item = v_item);
                v_refusal := 'ACCOUNT_NOT_ACTIVE';
                RAISE SQLSTATE 'RLRF1';
            END IF;
        END IF;

        -- Balance rows are created at zero, which every floor allows, before the update below changes them:
        -- an upsert would not do, as Postgres checks a proposed row's CHECK constraints before its conflict.
        INSERT INTO balances (root_ledger_id, account_id, asset_id, shard, ledger_id, normal_balance, available_floor)
        SELECT DISTINCT ON (d.account_id, d.asset_id, d.shard)
               p_root_ledger_id, d.account_id, d.asset_id, d.shard, d.ledger_id, d.normal_balance::"NormalBalance", d.available_floor
          FROM unnest(d_items, d_account_ids, d_asset_ids, d_shards, d_ledger_ids, d_normal_balances, d_available_floors)
               AS d(item, account_id, asset_id, shard, ledger_id, normal_balance, available_floor)
         WHERE d.item = ANY (v_claimed)
           AND NOT EXISTS (SELECT 1 FROM balances b
                            WHERE b.root_ledger_id = p_root_ledger_id AND b.account_id = d.account_id
                              AND b.asset_id = d.asset_id AND b.shard = d.shard)
         ORDER BY d.account_id, d.asset_id, d.shard
        ON CONFLICT DO NOTHING;

        -- Lock every row once, in the global order (root, account, asset, shard), so writes sharing rows
        -- queue instead of deadlocking, and judge each floor on the locked, newest version of its row after
        -- every item in batch order. A row in clawback debt sits below its floor: only what lowers it
        -- further is refused, and nothing is when the write may leave debt.
        WITH d AS MATERIALIZED (
            SELECT * FROM unnest(d_items, d_account_ids, d_asset_ids, d_shards, d_debits_posted, d_credits_posted, d_debits_pending, d_credits_pending)
                          AS d(item, account_id, asset_id, shard, debits_posted, credits_posted, debits_pending, credits_pending)
             WHERE d.item = ANY (v_claimed)
        ), locked AS MATERIALIZED (
            SELECT b.account_id, b.asset_id, b.shard, b.normal_balance, b.available_floor,
                   b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending
              FROM balances b
             WHERE b.root_ledger_id = p_root_ledger_id
               AND (b.account_id, b.asset_id, b.shard) IN (SELECT account_id, asset_id, shard FROM d)
             ORDER BY b.account_id, b.asset_id, b.shard
               FOR UPDATE OF b
        ), refusals AS (
            SELECT s.item, s.account_id
              FROM (SELECT d.item, d.account_id, l.available_floor,
                           available_of(l.normal_balance, d.debits_posted, d.credits_posted, d.debits_pending, d.credits_pending) AS change,
                           available_of(l.normal_balance, l.debits_posted, l.credits_posted, l.debits_pending, l.credits_pending)
                           + sum(available_of(l.normal_balance, d.debits_posted, d.credits_posted, d.debits_pending, d.credits_pending))
                               OVER (PARTITION BY d.account_id, d.asset_id, d.shard ORDER BY d.item) AS available
                      FROM d JOIN locked l ON l.account_id = d.account_id AND l.asset_id = d.asset_id AND l.shard = d.shard) s
             WHERE NOT p_allow_debt AND s.available_floor IS NOT NULL AND s.available < s.available_floor AND s.change < 0
        )
        SELECT r.item, array_agg(DISTINCT r.account_id)
          INTO v_item, v_refused
          FROM refusals r
         WHERE r.item = (SELECT min(item) FROM refusals)
         GROUP BY r.item;
        IF v_item IS NOT NULL THEN
            v_refusal := 'INSUFFICIENT_FUNDS';
            RAISE SQLSTATE 'RLRF1';
        END IF;

        -- Every row is locked and within its floor: apply each row's net change once. The table's CHECK is
        -- the second guard.
        WITH net AS (
            SELECT d.account_id, d.asset_id, d.shard, sum(d.debits_posted) AS debits_posted, sum(d.credits_posted) AS credits_posted,
                   sum(d.debits_pending) AS debits_pending, sum(d.credits_pending) AS credits_pending, count(*) AS items
              FROM unnest(d_items, d_account_ids, d_asset_ids, d_shards, d_debits_posted, d_credits_posted, d_debits_pending, d_credits_pending)
                   AS d(item, account_id, asset_id, shard, debits_posted, credits_posted, debits_pending, credits_pending)
             WHERE d.item = ANY (v_claimed)
             GROUP BY d.account_id, d.asset_id, d.shard
        ), changed AS (
            UPDATE balances b SET
                   debits_posted   = b.debits_posted   + n.debits_posted,
                   credits_posted  = b.credits_posted  + n.credits_posted,
                   debits_pending  = b.debits_pending  + n.debits_pending,
                   credits_pending = b.credits_pending + n.credits_pending,
                   debt            = balance_debt(b.available_floor, b.debt, p_allow_debt,
                                                  available_of(b.normal_balance, (b.debits_posted + n.debits_posted)::int8,
                                                               (b.credits_posted + n.credits_posted)::int8,
                                                               (b.debits_pending + n.debits_pending)::int8,
                                                               (b.credits_pending + n.credits_pending)::int8)),
                   version         = b.version + n.items,
                   updated_at      = now()
              FROM net n
             WHERE b.root_ledger_id = p_root_ledger_id AND b.account_id = n.account_id AND b.asset_id = n.asset_id AND b.shard = n.shard
            RETURNING b.account_id, b.asset_id, b.shard, b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending,
                      b.version, b.updated_at
        )
        SELECT count(*), (SELECT count(*) FROM net), array_agg(c.account_id), array_agg(c.asset_id), array_agg(c.shard),
               array_agg(c.debits_posted), array_agg(c.credits_posted), array_agg(c.debits_pending), array_agg(c.credits_pending),
               array_agg(c.version), array_agg(c.updated_at)
          INTO v_changed, v_expected, c_account_ids, c_asset_ids, c_shards, c_debits_posted, c_credits_posted, c_debits_pending,
               c_credits_pending, c_versions, c_updated_at
          FROM changed c;
        IF v_changed <> v_expected THEN
            RAISE EXCEPTION 'write_postings: % of % balance rows found', v_changed, v_expected;
        END IF;

        -- Program limits, item by item in batch order, under the balance locks taken above: every usage
        -- counter of an account changes only while its balance row is locked, so concurrent writes queue and
        -- none is lost. A hold counts when it is captured (the capture is a posted transaction of the hold's
        -- kind), so a hold counts nothing; a reversal gives back what its original counted.
        FOREACH v_item IN ARRAY v_claimed LOOP
            CONTINUE WHEN t_ids[v_item] IS NULL OR t_is_hold[v_item];
            IF t_reversal_of_ids[v_item] IS NOT NULL THEN
                PERFORM limits_give_back(p_root_ledger_id, t_reversal_of_ids[v_item]);
                CONTINUE;
            END IF;
            IF v_has_limits IS NULL THEN
                v_has_limits := EXISTS (SELECT 1 FROM limits l WHERE l.root_ledger_id = p_root_ledger_id AND l.deleted_at IS NULL);
            END IF;
            CONTINUE WHEN NOT v_has_limits;
            -- The item's customer rows whose posted balance rises, each with what the items after it add,
            -- so that its ceiling is judged on the balance as this item left it.
            SELECT q.o_limit_id, q.o_remaining
              INTO v_limit, v_remaining
              FROM (SELECT coalesce(array_agg(x.account_id), '{}') AS account_ids, coalesce(array_agg(x.ledger_id), '{}') AS ledger_ids,
                           coalesce(array_agg(x.asset_id), '{}') AS asset_ids, coalesce(array_agg(x.direction), '{}') AS directions,
                           coalesce(array_agg(x.amount), '{}') AS amounts
                      FROM unnest(e_items, e_account_ids, e_ledger_ids, e_asset_ids, e_directions, e_amounts)
                           AS x(item, account_id, ledger_id, asset_id, direction, amount)
                     WHERE x.item = v_item) e,
                   (SELECT coalesce(array_agg(y.account_id), '{}') AS account_ids, coalesce(array_agg(y.ledger_id), '{}') AS ledger_ids,
                           coalesce(array_agg(y.asset_id), '{}') AS asset_ids, coalesce(array_agg(y.rise), '{}') AS rises,
                           coalesce(array_agg(y.later), '{}') AS later
                      FROM (SELECT d.account_id, d.ledger_id, d.asset_id,
                                   posted_of(d.normal_balance::"NormalBalance", d.debits_posted, d.credits_posted) AS rise,
                                   coalesce((SELECT sum(posted_of(d.normal_balance::"NormalBalance", z.debits_posted, z.credits_posted))::int8
                                                 FROM unnest(d_items, d_account_ids, d_asset_ids, d_debits_posted, d_credits_posted)
                                                      AS z(item, account_id, asset_id, debits_posted, credits_posted)
                                                WHERE z.item > v_item AND z.item = ANY (v_claimed)
                                                  AND z.account_id = d.account_id AND z.asset_id = d.asset_id), 0) AS later
                              FROM unnest(d_items, d_account_ids, d_ledger_ids, d_asset_ids, d_normal_balances, d_debits_posted, d_credits_posted)
                                   AS d(item, account_id, ledger_id, asset_id, normal_balance, debits_posted, credits_posted)
                             WHERE d.item = v_item AND d.account_id = ANY (p_account_ids)) y
                     WHERE y.rise > 0) r,
                   LATERAL charge_posting_limits(
                       p_root_ledger_id, t_ids[v_item], t_kinds[v_item], t_effective_at[v_item], p_account_ids,
                       e.account_ids, e.ledger_ids, e.asset_ids, e.directions, e.amounts,
                       r.account_ids, r.ledger_ids, r.asset_ids, r.rises, r.later) q;
            IF v_limit IS NOT NULL THEN
                v_refusal := 'LIMIT_EXCEEDED';
                RAISE SQLSTATE 'RLRF1';
            END IF;
        END LOOP;

        IF EXISTS (SELECT 1 FROM unnest(t_checkpoints_from) AS c(from_at) WHERE c.from_at IS NOT NULL) THEN
            DELETE FROM balance_checkpoints c
             USING (SELECT d.account_id, min(t_checkpoints_from[d.item]) AS from_at
                      FROM unnest(d_items, d_account_ids) AS d(item, account_id)
                     WHERE t_checkpoints_from[d.item] IS NOT NULL AND d.item = ANY (v_claimed)
                     GROUP BY d.account_id) x
             WHERE c.root_ledger_id = p_root_ledger_id AND c.account_id = x.account_id AND c.as_of >= x.from_at;
        END IF;

        INSERT INTO entries (id, root_ledger_id, transaction_id, account_id, ledger_id, asset_id, direction, amount, effective_at, pending)
        SELECT e.id, p_root_ledger_id, t_ids[e.item], e.account_id, e.ledger_id, e.asset_id, e.direction::"Direction", e.amount,
               t_effective_at[e.item], t_is_hold[e.item]
          FROM unnest(e_items, e_ids, e_account_ids, e_ledger_ids, e_asset_ids, e_directions, e_amounts)
               AS e(item, id, account_id, ledger_id, asset_id, direction, amount)
         WHERE e.item = ANY (v_claimed);

        INSERT INTO audit_events (id, root_ledger_id, actor_type, actor_id, operation, target_ids, request_id, client_address)
        SELECT t_audit_ids[c.item], p_root_ledger_id, a_actor_type, a_actor_id, a_operation,
               array_remove(ARRAY[t_audit_subjects[c.item], t_ids[c.item]], NULL), a_request_id, a_client_address
          FROM unnest(v_claimed) AS c(item);
    EXCEPTION WHEN SQLSTATE 'RLRF1' THEN
        -- Everything the block wrote is rolled back; the refusal is the answer.
        RETURN QUERY SELECT v_item, 'REFUSED'::text, v_refusal, v_refused, v_refused_statuses, v_limit, v_remaining, v_original,
                            NULL::uuid, NULL::uuid, NULL::int2, NULL::int8, NULL::int8, NULL::int8, NULL::int8, NULL::int8,
                            NULL::timestamptz;
        RETURN;
    END;

    -- Each item is answered with its rows as it left them: the final row less the changes of the items after it.
    RETURN QUERY
    WITH d AS MATERIALIZED (
        SELECT * FROM unnest(d_items, d_account_ids, d_asset_ids, d_shards, d_debits_posted, d_credits_posted, d_debits_pending, d_credits_pending)
                      AS d(item, account_id, asset_id, shard, debits_posted, credits_posted, debits_pending, credits_pending)
         WHERE d.item = ANY (v_claimed)
    ), later AS (
        SELECT d.item, d.account_id, d.asset_id, d.shard,
               coalesce(sum(d.debits_posted)   OVER rest, 0) AS debits_posted,
               coalesce(sum(d.credits_posted)  OVER rest, 0) AS credits_posted,
               coalesce(sum(d.debits_pending)  OVER rest, 0) AS debits_pending,
               coalesce(sum(d.credits_pending) OVER rest, 0) AS credits_pending,
               count(*) OVER rest AS items
          FROM d
        WINDOW rest AS (PARTITION BY d.account_id, d.asset_id, d.shard ORDER BY d.item DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    )
    SELECT l.item::int, 'APPLIED'::text, NULL::text, NULL::uuid[], NULL::text[], NULL::uuid, NULL::int8, NULL::uuid,
           c.account_id, c.asset_id, c.shard,
           (c.debits_posted - l.debits_posted)::int8, (c.credits_posted - l.credits_posted)::int8,
           (c.debits_pending - l.debits_pending)::int8, (c.credits_pending - l.credits_pending)::int8,
           (c.version - l.items)::int8, c.updated_at
      FROM later l
      JOIN unnest(c_account_ids, c_asset_ids, c_shards, c_debits_posted, c_credits_posted, c_debits_pending, c_credits_pending,
                  c_versions, c_updated_at)
           AS c(account_id, asset_id, shard, debits_posted, credits_posted, debits_pending, credits_pending, version, updated_at)
        ON c.account_id = l.account_id AND c.asset_id = l.asset_id AND c.shard = l.shard
    UNION ALL
    SELECT k.item, 'CLAIM_TAKEN'::text, NULL::text, NULL::uuid[], NULL::text[], NULL::uuid, NULL::int8, NULL::uuid,
           NULL::uuid, NULL::uuid, NULL::int2, NULL::int8, NULL::int8, NULL::int8, NULL::int8, NULL::int8, NULL::timestamptz
      FROM unnest(v_taken) AS k(item);
END;
$$;

-- The previous release's apply_posting: the same write, as one item of write_postings, its answers in the old
-- shape (a refusal raised with DETAIL "id:STATUS", "id,id" or "limit:remaining"; a reused key as CLAIM_TAKEN,
-- which that release's server reads back itself).
CREATE OR REPLACE FUNCTION "apply_posting"(
    p_root_ledger_id     uuid,
    p_account_ids        uuid[],
    p_require_active     boolean,
    p_transaction_id     uuid,
    p_ledger_id          uuid,
    p_kind               text,
    p_status             text,
    p_idempotency_key    text,
    p_request_hash       text,
    p_description        text,
    p_metadata           jsonb,
    p_effective_at       timestamptz,
    p_posted_at          timestamptz,
    p_reversal_of_id     uuid,
    p_is_hold            boolean,
    p_timeout_at         timestamptz,
    d_account_ids        uuid[],
    d_asset_ids          uuid[],
    d_shards             int2[],
    d_ledger_ids         uuid[],
    d_normal_balances    text[],
    d_available_floors   int8[],
    d_debits_posted      int8[],
    d_credits_posted     int8[],
    d_debits_pending     int8[],
    d_credits_pending    int8[],
    e_ids                uuid[],
    e_account_ids        uuid[],
    e_ledger_ids         uuid[],
    e_asset_ids          uuid[],
    e_directions         text[],
    e_amounts            int8[],
    a_id                 uuid,
    a_actor_type         text,
    a_actor_id           text,
    a_operation          text,
    a_target_ids         uuid[],
    a_request_id         text,
    a_client_address     text,
    p_checkpoints_from   timestamptz,
    p_allow_debt         boolean
) RETURNS TABLE (
    o_outcome         text,
    o_account_id      uuid,
    o_asset_id        uuid,
    o_shard           int2,
    o_debits_posted   int8,
    o_credits_posted  int8,
    o_debits_pending  int8,
    o_credits_pending int8,
    o_version         int8,
    o_updated_at      timestamptz
)
LANGUAGE plpgsql
AS $$
DECLARE
    w record;
BEGIN
    FOR w IN
        SELECT * FROM write_postings(
            p_root_ledger_id, p_account_ids, p_require_active, p_allow_debt,
            ARRAY[p_transaction_id], ARRAY[p_ledger_id], ARRAY[p_kind], ARRAY[p_status], ARRAY[p_idempotency_key],
            ARRAY[p_request_hash], ARRAY[p_description], ARRAY[p_metadata], ARRAY[p_effective_at], ARRAY[p_posted_at],
            ARRAY[p_reversal_of_id], ARRAY[p_is_hold], ARRAY[p_timeout_at], ARRAY[p_checkpoints_from], ARRAY[a_id],
            ARRAY[CASE WHEN a_target_ids[1] IS DISTINCT FROM p_transaction_id THEN a_target_ids[1] END],
            a_actor_type, a_actor_id, a_operation, a_request_id, a_client_address,
            array_fill(1, ARRAY[cardinality(d_account_ids)]), d_account_ids, d_asset_ids, d_shards, d_ledger_ids,
            d_normal_balances, d_available_floors, d_debits_posted, d_credits_posted, d_debits_pending, d_credits_pending,
            array_fill(1, ARRAY[cardinality(e_ids)]), e_ids, e_account_ids, e_ledger_ids, e_asset_ids, e_directions, e_amounts)
    LOOP
        IF w.o_outcome = 'REFUSED' THEN
            CASE w.o_refusal
                WHEN 'ACCOUNT_NOT_ACTIVE' THEN
                    RAISE EXCEPTION 'account not active' USING ERRCODE = 'RLNA1',
                        DETAIL = (SELECT string_agg(i.id || ':' || i.status, ',' ORDER BY i.id)
                                    FROM unnest(w.o_refused_ids, w.o_refused_statuses) AS i(id, status));
                WHEN 'INSUFFICIENT_FUNDS' THEN
                    RAISE EXCEPTION 'insufficient funds' USING ERRCODE = 'RLIF1', DETAIL = array_to_string(w.o_refused_ids, ',');
                WHEN 'LIMIT_EXCEEDED' THEN
                    RAISE EXCEPTION 'limit exceeded' USING ERRCODE = 'RLLE1', DETAIL = w.o_limit_id || ':' || w.o_remaining;
                ELSE
                    o_outcome := 'CLAIM_TAKEN';
            END CASE;
        ELSE
            o_outcome := w.o_outcome;
            o_account_id := w.o_account_id;
            o_asset_id := w.o_asset_id;
            o_shard := w.o_shard;
            o_debits_posted := w.o_debits_posted;
            o_credits_posted := w.o_credits_posted;
            o_debits_pending := w.o_debits_pending;
            o_credits_pending := w.o_credits_pending;
            o_version := w.o_version;
            o_updated_at := w.o_updated_at;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;

-- The previous release's apply_postings, likewise: refusals raised with the item's number first ("item;...").
CREATE OR REPLACE FUNCTION "apply_postings"(
    p_root_ledger_id      uuid,
    p_account_ids         uuid[],
    t_ids                 uuid[],
    t_ledger_ids          uuid[],
    t_kinds               text[],
    t_statuses            text[],
    t_idempotency_keys    text[],
    t_request_hashes      text[],
    t_descriptions        text[],
    t_metadata            jsonb[],
    t_effective_at        timestamptz[],
    t_posted_at           timestamptz[],
    t_is_hold             boolean[],
    t_timeout_at          timestamptz[],
    t_checkpoints_from    timestamptz[],
    t_audit_ids           uuid[],
    a_actor_type          text,
    a_actor_id            text,
    a_operation           text,
    a_request_id          text,
    a_client_address      text,
    d_items               int[],
    d_account_ids         uuid[],
    d_asset_ids           uuid[],
    d_shards              int2[],
    d_ledger_ids          uuid[],
    d_normal_balances     text[],
    d_available_floors    int8[],
    d_debits_posted       int8[],
    d_credits_posted      int8[],
    d_debits_pending      int8[],
    d_credits_pending     int8[],
    e_items               int[],
    e_ids                 uuid[],
    e_account_ids         uuid[],
    e_ledger_ids          uuid[],
    e_asset_ids           uuid[],
    e_directions          text[],
    e_amounts             int8[]
) RETURNS TABLE (
    o_item            int,
    o_outcome         text,
    o_account_id      uuid,
    o_asset_id        uuid,
    o_shard           int2,
    o_debits_posted   int8,
    o_credits_posted  int8,
    o_debits_pending  int8,
    o_credits_pending int8,
    o_version         int8,
    o_updated_at      timestamptz
)
LANGUAGE plpgsql
AS $$
DECLARE
    w record;
    v_none uuid[] := array_fill(NULL::uuid, ARRAY[cardinality(t_ids)]);
BEGIN
    FOR w IN
        SELECT * FROM write_postings(
            p_root_ledger_id, p_account_ids, true, false,
            t_ids, t_ledger_ids, t_kinds, t_statuses, t_idempotency_keys, t_request_hashes, t_descriptions, t_metadata,
            t_effective_at, t_posted_at, v_none, t_is_hold, t_timeout_at, t_checkpoints_from, t_audit_ids, v_none,
            a_actor_type, a_actor_id, a_operation, a_request_id, a_client_address,
            d_items, d_account_ids, d_asset_ids, d_shards, d_ledger_ids, d_normal_balances, d_available_floors,
            d_debits_posted, d_credits_posted, d_debits_pending, d_credits_pending,
            e_items, e_ids, e_account_ids, e_ledger_ids, e_asset_ids, e_directions, e_amounts)
    LOOP
        IF w.o_outcome = 'REFUSED' THEN
            CASE w.o_refusal
                WHEN 'IDEMPOTENCY_CONFLICT' THEN
                    RAISE EXCEPTION 'idempotency key reused' USING ERRCODE = 'RLIC1', DETAIL = w.o_item || ';' || w.o_original_id;
                WHEN 'ACCOUNT_NOT_ACTIVE' THEN
                    RAISE EXCEPTION 'account not active' USING ERRCODE = 'RLNA1',
                        DETAIL = w.o_item || ';' || w.o_refused_ids[1] || ':' || w.o_refused_statuses[1];
                WHEN 'INSUFFICIENT_FUNDS' THEN
                    RAISE EXCEPTION 'insufficient funds' USING ERRCODE = 'RLIF1',
                        DETAIL = w.o_item || ';' || array_to_string(w.o_refused_ids, ',');
                ELSE
                    RAISE EXCEPTION 'limit exceeded' USING ERRCODE = 'RLLE1',
                        DETAIL = w.o_item || ';' || w.o_limit_id || ':' || w.o_remaining;
            END CASE;
        END IF;
        o_item := w.o_item;
        o_outcome := w.o_outcome;
        o_account_id := w.o_account_id;
        o_asset_id := w.o_asset_id;
        o_shard := w.o_shard;
        o_debits_posted := w.o_debits_posted;
        o_credits_posted := w.o_credits_posted;
        o_debits_pending := w.o_debits_pending;
        o_credits_pending := w.o_credits_pending;
        o_version := w.o_version;
        o_updated_at := w.o_updated_at;
        RETURN NEXT;
    END LOOP;
END;
$$;

-- Stated now only in charge_posting_limits; nothing calls it.
DROP FUNCTION "apply_posting_limits"(uuid, int, uuid, text, timestamptz, uuid[], uuid[], uuid[], uuid[], text[], int8[],
                                     uuid[], uuid[], uuid[], int8[], int8[]);
