-- The write half of every posting in one call. The server plans a posting (postings.core.ts: which
-- balance rows change by how much, the journal lines, the audit row) and this function applies the plan:
--   1. share-locks the customer accounts and reads their status;
--   2. claims the idempotency key (and, for a reversal, the right to reverse);
--   3. creates any balance row the posting is the first to touch, at zero;
--   4. locks the balance rows in the plan's sorted order, checks every floor, then updates them;
--   5. drops point-in-time checkpoints a backdated posting invalidates;
--   6. writes the entries and the audit event.
-- Called on its own it is one round trip and, in autocommit, one database transaction, so the hot balance
-- rows stay locked only while the function runs, not across a conversation of statements with the server.
-- Called inside a transaction (an atomic batch, a dry run, a settlement, lots) it is one step of it.
--
-- Outcomes: rows of the balances as the posting left them (o_outcome 'APPLIED'); one row 'CLAIM_TAKEN'
-- when another transaction already holds the key or the reversal (nothing is written); or an error that
-- undoes everything: SQLSTATE RLNA1 (an account is not ACTIVE; DETAIL "id:STATUS,...") or RLIF1 (a
-- balance would fall below its floor; DETAIL "id,..."), both raised before any balance changes.
-- What a balance row makes available in its account's normal direction: posted less pending outflows, the
-- quantity every floor bounds (as the balances table's CHECK does). Linear, so it serves totals and changes
-- alike. A one-expression IMMUTABLE SQL function: the planner inlines it into the statements that call it.
CREATE FUNCTION "available_of"(normal_balance "NormalBalance", debits_posted int8, credits_posted int8,
                               debits_pending int8, credits_pending int8)
RETURNS int8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE normal_balance
             WHEN 'CREDIT' THEN credits_posted - debits_posted - debits_pending
             ELSE debits_posted - credits_posted - credits_pending
           END
$$;

CREATE FUNCTION "apply_posting"(
    p_root_ledger_id     uuid,
    -- customer accounts, sorted: share-locked so a concurrent freeze or close waits for this posting
    p_account_ids        uuid[],
    p_require_active     boolean,
    -- the transaction row; p_transaction_id is null for a hold's release, which writes no transaction
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
    -- balance changes, sorted by (account, asset): the lock order that keeps postings from deadlocking
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
    -- journal lines
    e_ids                uuid[],
    e_account_ids        uuid[],
    e_ledger_ids         uuid[],
    e_asset_ids          uuid[],
    e_directions         text[],
    e_amounts            int8[],
    -- the audit event
    a_id                 uuid,
    a_actor_type         text,
    a_actor_id           text,
    a_operation          text,
    a_target_ids         uuid[],
    a_request_id         text,
    a_client_address     text,
    -- a backdated posting: checkpoints of its accounts at or after this instant are no longer true
    p_checkpoints_from   timestamptz
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
-- Generic plans: every call has the same shape, and re-planning each statement per call cost as much
-- CPU as executing it (see src/platform/transaction.ts).
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_not_active text;
    v_changed    int;
    v_refused    text;
BEGIN
    -- FOR KEY SHARE on the newest version of each row: its status is current, and a freeze or close,
    -- which takes FOR UPDATE, waits until this posting commits. System accounts never change status and
    -- are not locked, so the hot ones collect no lockers.
    SELECT string_agg(a.id || ':' || a.status, ',' ORDER BY a.id) FILTER (WHERE a.status <> 'ACTIVE')
      INTO v_not_active
      FROM (SELECT id, status FROM accounts
             WHERE root_ledger_id = p_root_ledger_id AND id = ANY (p_account_ids)
             ORDER BY id
               FOR KEY SHARE) a;

    IF p_transaction_id IS NOT NULL THEN
        -- Waits for a concurrent claimant of the same key or reversal, then wins or yields to it.
        INSERT INTO transactions (id, root_ledger_id, ledger_id, kind, status, idempotency_key, request_hash, description,
                                  metadata, effective_at, posted_at, reversal_of_id, is_hold, timeout_at)
        VALUES (p_transaction_id, p_root_ledger_id, p_ledger_id, p_kind::"TransactionKind", p_status::"TransactionStatus",
                p_idempotency_key, p_request_hash, p_description, p_metadata, p_effective_at, p_posted_at,
                p_reversal_of_id, p_is_hold, p_timeout_at)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            -- A replay is answered with the original, even if an account has been frozen since.
            RETURN QUERY SELECT 'CLAIM_TAKEN'::text, NULL::uuid, NULL::uuid, NULL::int2, NULL::int8, NULL::int8,
                                NULL::int8, NULL::int8, NULL::int8, NULL::timestamptz;
            RETURN;
        END IF;
    END IF;

    IF p_require_active AND v_not_active IS NOT NULL THEN
        RAISE EXCEPTION 'account not active' USING ERRCODE = 'RLNA1', DETAIL = v_not_active;
    END IF;

    -- Balance rows are created at zero, which every floor allows, before the update below changes them:
    -- an upsert would not do, as Postgres checks a proposed row's CHECK constraints before its conflict.
    INSERT INTO balances (root_ledger_id, account_id, asset_id, shard, ledger_id, normal_balance, available_floor)
    SELECT p_root_ledger_id, d.account_id, d.asset_id, d.shard, d.ledger_id, d.normal_balance::"NormalBalance", d.available_floor
      FROM unnest(d_account_ids, d_asset_ids, d_shards, d_ledger_ids, d_normal_balances, d_available_floors)
           WITH ORDINALITY AS d(account_id, asset_id, shard, ledger_id, normal_balance, available_floor, ord)
     WHERE NOT EXISTS (SELECT 1 FROM balances b
                        WHERE b.root_ledger_id = p_root_ledger_id AND b.account_id = d.account_id
                          AND b.asset_id = d.asset_id AND b.shard = d.shard)
     ORDER BY d.ord
    ON CONFLICT DO NOTHING;

    -- Lock the rows in the plan's order, so two postings sharing rows queue instead of deadlocking, and
    -- judge each floor on the locked, newest version of its row.
    SELECT string_agg(DISTINCT x.account_id::text, ',') FILTER (WHERE x.below_floor)
      INTO v_refused
      FROM (SELECT b.account_id,
                   b.available_floor IS NOT NULL
                   AND available_of(b.normal_balance, b.debits_posted + d.debits_posted, b.credits_posted + d.credits_posted,
                                    b.debits_pending + d.debits_pending, b.credits_pending + d.credits_pending)
                       < b.available_floor AS below_floor
              FROM unnest(d_account_ids, d_asset_ids, d_shards, d_debits_posted, d_credits_posted, d_debits_pending, d_credits_pending)
                   WITH ORDINALITY AS d(account_id, asset_id, shard, debits_posted, credits_posted, debits_pending, credits_pending, ord)
              JOIN balances b
                ON b.root_ledger_id = p_root_ledger_id AND b.account_id = d.account_id AND b.asset_id = d.asset_id AND b.shard = d.shard
             ORDER BY d.ord
               FOR UPDATE OF b) x;
    IF v_refused IS NOT NULL THEN
        RAISE EXCEPTION 'insufficient funds' USING ERRCODE = 'RLIF1', DETAIL = v_refused;
    END IF;

    -- Every row is locked and within its floor: apply. The table's CHECK is the second guard.
    RETURN QUERY
    UPDATE balances b SET
           debits_posted   = b.debits_posted   + d.debits_posted,
           credits_posted  = b.credits_posted  + d.credits_posted,
           debits_pending  = b.debits_pending  + d.debits_pending,
           credits_pending = b.credits_pending + d.credits_pending,
           version         = b.version + 1,
           updated_at      = now()
      FROM unnest(d_account_ids, d_asset_ids, d_shards, d_debits_posted, d_credits_posted, d_debits_pending, d_credits_pending)
           AS d(account_id, asset_id, shard, debits_posted, credits_posted, debits_pending, credits_pending)
     WHERE b.root_ledger_id = p_root_ledger_id AND b.account_id = d.account_id AND b.asset_id = d.asset_id AND b.shard = d.shard
    RETURNING 'APPLIED'::text, b.account_id, b.asset_id, b.shard, b.debits_posted, b.credits_posted, b.debits_pending,
              b.credits_pending, b.version, b.updated_at;
    GET DIAGNOSTICS v_changed = ROW_COUNT;
    IF v_changed <> cardinality(d_account_ids) THEN
        RAISE EXCEPTION 'apply_posting: % of % balance rows found', v_changed, cardinality(d_account_ids);
    END IF;

    IF p_checkpoints_from IS NOT NULL THEN
        DELETE FROM balance_checkpoints
         WHERE root_ledger_id = p_root_ledger_id AND account_id = ANY (d_account_ids) AND as_of >= p_checkpoints_from;
    END IF;

    IF cardinality(e_ids) > 0 THEN
        INSERT INTO entries (id, root_ledger_id, transaction_id, account_id, ledger_id, asset_id, direction, amount, effective_at, pending)
        SELECT e.id, p_root_ledger_id, p_transaction_id, e.account_id, e.ledger_id, e.asset_id, e.direction::"Direction", e.amount,
               p_effective_at, p_is_hold
          FROM unnest(e_ids, e_account_ids, e_ledger_ids, e_asset_ids, e_directions, e_amounts)
               AS e(id, account_id, ledger_id, asset_id, direction, amount);
    END IF;

    INSERT INTO audit_events (id, root_ledger_id, actor_type, actor_id, operation, target_ids, request_id, client_address)
    VALUES (a_id, p_root_ledger_id, a_actor_type, a_actor_id, a_operation, a_target_ids, a_request_id, a_client_address);
END;
$$;

-- An atomic batch of postings (postTransactions with atomic: true) in one call: the same rules as
-- apply_posting, applied set-wise. Items are numbered from 1 in batch order; d_items and e_items say which
-- item each balance change and journal line belongs to. Every balance row the batch touches is locked once,
-- in one global order (account, asset, shard), and each floor is checked after every item that touches
-- the row, in batch order (running sums), exactly as if the items were applied one after another.
--
-- Outcomes: per item, rows of the balances as that item left them ('APPLIED'), or one 'CLAIM_TAKEN' row when
-- its key was already used for the same request (a replay; in this batch or before). Errors undo the whole
-- batch and name the first item that fails, DETAIL "item;...": RLNA1 (an account is not ACTIVE; "item;id:STATUS"),
-- RLIF1 (a balance would fall below its floor; "item;id,..."), RLIC1 (the key was used for a different
-- request; "item;transaction id").
CREATE FUNCTION "apply_postings"(
    p_root_ledger_id      uuid,
    p_account_ids         uuid[],
    -- one element per item
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
    -- the actor, the same for every item's audit event
    a_actor_type          text,
    a_actor_id            text,
    a_operation           text,
    a_request_id          text,
    a_client_address      text,
    -- balance changes, one per item and balance row
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
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_inactive   uuid[];
    v_claimed    int[];
    v_item       int;
    v_detail     text;
BEGIN
    SELECT array_agg(a.id) FILTER (WHERE a.status <> 'ACTIVE')
      INTO v_inactive
      FROM (SELECT id, status FROM accounts
             WHERE root_ledger_id = p_root_ledger_id AND id = ANY (p_account_ids)
             ORDER BY id
               FOR KEY SHARE) a;

    WITH claimed AS (
        INSERT INTO transactions (id, root_ledger_id, ledger_id, kind, status, idempotency_key, request_hash, description,
                                  metadata, effective_at, posted_at, is_hold, timeout_at)
        SELECT t.id, p_root_ledger_id, t.ledger_id, t.kind::"TransactionKind", t.status::"TransactionStatus", t.idempotency_key,
               t.request_hash, t.description, t.metadata, t.effective_at, t.posted_at, t.is_hold, t.timeout_at
          FROM unnest(t_ids, t_ledger_ids, t_kinds, t_statuses, t_idempotency_keys, t_request_hashes, t_descriptions, t_metadata,
                      t_effective_at, t_posted_at, t_is_hold, t_timeout_at)
               WITH ORDINALITY AS t(id, ledger_id, kind, status, idempotency_key, request_hash, description, metadata,
                                    effective_at, posted_at, is_hold, timeout_at, item)
         ORDER BY t.item
        ON CONFLICT DO NOTHING
        RETURNING id
    )
    SELECT coalesce(array_agg(t.item ORDER BY t.item), '{}')
      INTO v_claimed
      FROM unnest(t_ids) WITH ORDINALITY AS t(id, item)
      JOIN claimed c ON c.id = t.id;

    IF cardinality(v_claimed) < cardinality(t_ids) THEN
        -- A key taken by a different request fails the batch; the same request is a replay of that item.
        SELECT t.item, t.item || ';' || x.id
          INTO v_item, v_detail
          FROM unnest(t_idempotency_keys, t_request_hashes) WITH ORDINALITY AS t(idempotency_key, request_hash, item)
          JOIN transactions x ON x.root_ledger_id = p_root_ledger_id AND x.idempotency_key = t.idempotency_key
         WHERE NOT (t.item = ANY (v_claimed)) AND x.request_hash <> t.request_hash
         ORDER BY t.item
         LIMIT 1;
        IF v_item IS NOT NULL THEN
            RAISE EXCEPTION 'idempotency key reused' USING ERRCODE = 'RLIC1', DETAIL = v_detail;
        END IF;
    END IF;

    IF v_inactive IS NOT NULL THEN
        SELECT d.item, d.item || ';' || a.id || ':' || a.status
          INTO v_item, v_detail
          FROM unnest(d_items, d_account_ids) AS d(item, account_id)
          JOIN accounts a ON a.root_ledger_id = p_root_ledger_id AND a.id = d.account_id
         WHERE d.item = ANY (v_claimed) AND d.account_id = ANY (v_inactive)
         ORDER BY d.item
         LIMIT 1;
        IF v_item IS NOT NULL THEN
            RAISE EXCEPTION 'account not active' USING ERRCODE = 'RLNA1', DETAIL = v_detail;
        END IF;
    END IF;

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

    -- Lock every row once, in the global order, then find the first item after which a row is below its floor.
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
    ), steps AS (
        SELECT d.item, d.account_id, l.available_floor,
               available_of(l.normal_balance, l.debits_posted, l.credits_posted, l.debits_pending, l.credits_pending)
               + sum(available_of(l.normal_balance, d.debits_posted, d.credits_posted, d.debits_pending, d.credits_pending))
                   OVER (PARTITION BY d.account_id, d.asset_id, d.shard ORDER BY d.item) AS available
          FROM d JOIN locked l ON l.account_id = d.account_id AND l.asset_id = d.asset_id AND l.shard = d.shard
    ), first_refusal AS (
        SELECT min(item) AS item FROM steps WHERE available_floor IS NOT NULL AND available < available_floor
    )
    SELECT f.item, f.item || ';' || string_agg(DISTINCT s.account_id::text, ',')
      INTO v_item, v_detail
      FROM first_refusal f
      JOIN steps s ON s.item = f.item AND s.available_floor IS NOT NULL AND s.available < s.available_floor
     GROUP BY f.item;
    IF v_item IS NOT NULL THEN
        RAISE EXCEPTION 'insufficient funds' USING ERRCODE = 'RLIF1', DETAIL = v_detail;
    END IF;

    -- Apply each row's net change once, and answer each item with the row as it left it: the final row
    -- less the changes of the items after it.
    RETURN QUERY
    WITH d AS MATERIALIZED (
        SELECT * FROM unnest(d_items, d_account_ids, d_asset_ids, d_shards, d_debits_posted, d_credits_posted, d_debits_pending, d_credits_pending)
                      AS d(item, account_id, asset_id, shard, debits_posted, credits_posted, debits_pending, credits_pending)
         WHERE d.item = ANY (v_claimed)
    ), net AS (
        SELECT account_id, asset_id, shard, sum(debits_posted) AS debits_posted, sum(credits_posted) AS credits_posted,
               sum(debits_pending) AS debits_pending, sum(credits_pending) AS credits_pending, count(*) AS items
          FROM d GROUP BY account_id, asset_id, shard
    ), changed AS (
        UPDATE balances b SET
               debits_posted   = b.debits_posted   + n.debits_posted,
               credits_posted  = b.credits_posted  + n.credits_posted,
               debits_pending  = b.debits_pending  + n.debits_pending,
               credits_pending = b.credits_pending + n.credits_pending,
               version         = b.version + n.items,
               updated_at      = now()
          FROM net n
         WHERE b.root_ledger_id = p_root_ledger_id AND b.account_id = n.account_id AND b.asset_id = n.asset_id AND b.shard = n.shard
        RETURNING b.account_id, b.asset_id, b.shard, b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending,
                  b.version, b.updated_at
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
    SELECT l.item::int, 'APPLIED'::text, c.account_id, c.asset_id, c.shard,
           (c.debits_posted - l.debits_posted)::int8, (c.credits_posted - l.credits_posted)::int8,
           (c.debits_pending - l.debits_pending)::int8, (c.credits_pending - l.credits_pending)::int8,
           (c.version - l.items)::int8, c.updated_at
      FROM later l JOIN changed c ON c.account_id = l.account_id AND c.asset_id = l.asset_id AND c.shard = l.shard
    UNION ALL
    SELECT t.item::int, 'CLAIM_TAKEN'::text, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
      FROM generate_subscripts(t_ids, 1) AS t(item)
     WHERE NOT (t.item = ANY (v_claimed));

    IF EXISTS (SELECT 1 FROM unnest(t_checkpoints_from) AS c(from_at) WHERE c.from_at IS NOT NULL) THEN
        DELETE FROM balance_checkpoints c
         USING (SELECT d.account_id, min(t.from_at) AS from_at
                  FROM unnest(d_items, d_account_ids) AS d(item, account_id)
                  JOIN unnest(t_checkpoints_from) WITH ORDINALITY AS t(from_at, item) ON t.item = d.item
                 WHERE t.from_at IS NOT NULL AND d.item = ANY (v_claimed)
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
    SELECT t_audit_ids[t.item], p_root_ledger_id, a_actor_type, a_actor_id, a_operation, ARRAY[t_ids[t.item]], a_request_id, a_client_address
      FROM unnest(v_claimed) AS t(item);
END;
$$;
