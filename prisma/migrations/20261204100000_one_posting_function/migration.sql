-- One posting primitive. apply_posting (one posting) and apply_postings (an atomic batch) stated the same
-- rules twice; a posting is now a batch of one, and this one function states each rule once:
--   1. share-locks the customer accounts and reads their status;
--   2. claims each item's idempotency key (and, for a reversal, the right to reverse);
--   3. refuses a key already used for a different request, an item that moves value on an account that is
--      not ACTIVE, or a balance that would fall below its floor after any item;
--   4. creates any balance row the batch is the first to touch, at zero;
--   5. locks every balance row once, in one global order (account, asset, shard), so postings sharing rows
--      queue instead of deadlocking, and judges each floor on the locked rows after every item, in batch
--      order (running sums), exactly as if the items were applied one after another;
--   6. applies each row's net change, drops point-in-time checkpoints a backdated item invalidates, and
--      writes the entries and one audit event per item.
-- Called on its own it is one round trip and, in autocommit, one database transaction, so the hot balance
-- rows stay locked only while the function runs. Called inside a transaction (lots, a settlement, expiry, a
-- dry run) it is one step of it.
--
-- Items are numbered from 1 in batch order; d_items, e_items and g_items say which item each balance
-- change, journal line and audit target belongs to. An item with a null t_ids element is a hold's release:
-- it inserts no transaction and claims nothing, and (with t_require_active false) moves value on accounts
-- of any status.
--
-- Outcomes, as rows: every balance row the batch changed, as the batch left it ('APPLIED', no item), and one
-- 'CLAIM_TAKEN' row per item whose key (or reversal) was already taken for the same request, in this batch or
-- before: a replay.
-- A refusal is one row naming the first item that fails, and nothing is written (the subtransaction below
-- undoes the claims): 'KEY_REUSED' (o_refused_ids: the transaction holding the key), 'NOT_ACTIVE'
-- (o_refused_ids: the account; o_account_status its status), 'BELOW_FLOOR' (o_refused_ids: the accounts).
DROP FUNCTION "apply_posting";
DROP FUNCTION "apply_postings";

CREATE FUNCTION "apply_postings"(
    p_root_ledger_id      uuid,
    -- customer accounts, sorted: share-locked so a concurrent freeze or close waits for this batch
    p_account_ids         uuid[],
    -- one element per item
    t_ids                 uuid[],
    t_require_active      boolean[],
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
    -- the actor and operation, the same for every item's audit event, and each event's targets
    a_actor_type          text,
    a_actor_id            text,
    a_operation           text,
    a_request_id          text,
    a_client_address      text,
    g_items               int[],
    g_ids                 uuid[],
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
    o_updated_at      timestamptz,
    o_refused_ids     uuid[],
    o_account_status  text
)
LANGUAGE plpgsql
-- Generic plans: every call has the same shape, and re-planning each statement per call cost as much
-- CPU as executing it (see src/platform/transaction.ts).
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_inactive   uuid[];
    -- v_all: every item claimed (the usual case); otherwise v_claimed lists the items that were
    v_all        boolean;
    v_claimed    int[];
    v_inserted   int;
    v_item       int;
    v_code       text;
    v_ids        uuid[];
    v_status     text;
    v_rows       int;
    v_found      int;
    v_changed    int;
BEGIN
    -- FOR KEY SHARE on the newest version of each row: its status is current, and a freeze or close,
    -- which takes FOR UPDATE, waits until this batch commits. System accounts never change status and
    -- are not locked, so the hot ones collect no lockers.
    SELECT array_agg(a.id ORDER BY a.id) FILTER (WHERE a.status <> 'ACTIVE')
      INTO v_inactive
      FROM (SELECT id, status FROM accounts
             WHERE root_ledger_id = p_root_ledger_id AND id = ANY (p_account_ids)
             ORDER BY id
               FOR KEY SHARE) a;

    -- The claims and the zero rows are undone if the batch is refused; the refusal is then answered as a
    -- row, from these variables, which the rollback of the block leaves alone.
    BEGIN
        -- Waits for a concurrent claimant of the same key or reversal, then wins or yields to it.
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
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_inserted = ROW_COUNT;
        v_all := v_inserted = cardinality(array_remove(t_ids, NULL));
        IF NOT v_all THEN
            -- Some key or reversal is taken: read back which items were claimed (their rows are visible here).
            SELECT coalesce(array_agg(t.item ORDER BY t.item), '{}')
              INTO v_claimed
              FROM unnest(t_ids) WITH ORDINALITY AS t(id, item)
             WHERE t.id IS NULL
                OR EXISTS (SELECT 1 FROM transactions x WHERE x.root_ledger_id = p_root_ledger_id AND x.id = t.id);
        END IF;

        IF NOT v_all THEN
            -- A key taken by a different request refuses the batch; the same request is a replay of that item,
            -- and so is a reversal already claimed under another key (the engine then says so).
            SELECT t.item, ARRAY[x.id]
              INTO v_item, v_ids
              FROM unnest(t_idempotency_keys, t_request_hashes) WITH ORDINALITY AS t(idempotency_key, request_hash, item)
              JOIN transactions x ON x.root_ledger_id = p_root_ledger_id AND x.idempotency_key = t.idempotency_key
             WHERE NOT (t.item = ANY (v_claimed)) AND x.request_hash <> t.request_hash
             ORDER BY t.item
             LIMIT 1;
            IF v_item IS NOT NULL THEN
                v_code := 'KEY_REUSED';
                RAISE EXCEPTION 'posting refused' USING ERRCODE = 'RLRF1';
            END IF;
        END IF;

        -- A replay is answered with the original even if an account has been frozen since, so only claimed
        -- items are judged.
        IF v_inactive IS NOT NULL THEN
            SELECT d.item, ARRAY[a.id], a.status::text
              INTO v_item, v_ids, v_status
              FROM unnest(d_items, d_account_ids) AS d(item, account_id)
              JOIN accounts a ON a.root_ledger_id = p_root_ledger_id AND a.id = d.account_id
             WHERE (v_all OR d.item = ANY (v_claimed)) AND t_require_active[d.item] AND d.account_id = ANY (v_inactive)
             ORDER BY d.item, d.account_id
             LIMIT 1;
            IF v_item IS NOT NULL THEN
                v_code := 'NOT_ACTIVE';
                RAISE EXCEPTION 'posting refused' USING ERRCODE = 'RLRF1';
            END IF;
        END IF;

        -- Balance rows are created at zero, which every floor allows, before the update below changes them:
        -- an upsert would not do, as Postgres checks a proposed row's CHECK constraints before its conflict.
        INSERT INTO balances (root_ledger_id, account_id, asset_id, shard, ledger_id, normal_balance, available_floor)
        SELECT DISTINCT ON (d.account_id, d.asset_id, d.shard)
               p_root_ledger_id, d.account_id, d.asset_id, d.shard, d.ledger_id, d.normal_balance::"NormalBalance", d.available_floor
          FROM unnest(d_items, d_account_ids, d_asset_ids, d_shards, d_ledger_ids, d_normal_balances, d_available_floors)
               AS d(item, account_id, asset_id, shard, ledger_id, normal_balance, available_floor)
         WHERE (v_all OR d.item = ANY (v_claimed))
           AND NOT EXISTS (SELECT 1 FROM balances b
                            WHERE b.root_ledger_id = p_root_ledger_id AND b.account_id = d.account_id
                              AND b.asset_id = d.asset_id AND b.shard = d.shard)
         ORDER BY d.account_id, d.asset_id, d.shard
        ON CONFLICT DO NOTHING;

        -- Lock every row once, in the global order, then find the first item after which a row is below its floor.
        WITH d AS MATERIALIZED (
            SELECT * FROM unnest(d_items, d_account_ids, d_asset_ids, d_shards, d_debits_posted, d_credits_posted, d_debits_pending, d_credits_pending)
                          AS d(item, account_id, asset_id, shard, debits_posted, credits_posted, debits_pending, credits_pending)
             WHERE (v_all OR d.item = ANY (v_claimed))
        ), locked AS MATERIALIZED (
            SELECT b.account_id, b.asset_id, b.shard, b.normal_balance, b.available_floor,
                   b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending
              FROM (SELECT DISTINCT account_id, asset_id, shard FROM d) k
              JOIN balances b
                ON b.root_ledger_id = p_root_ledger_id AND b.account_id = k.account_id AND b.asset_id = k.asset_id AND b.shard = k.shard
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
        SELECT (SELECT count(*) FROM (SELECT DISTINCT account_id, asset_id, shard FROM d) k), (SELECT count(*) FROM locked),
               f.item, (SELECT array_agg(DISTINCT s.account_id ORDER BY s.account_id) FROM steps s
                         WHERE s.item = f.item AND s.available_floor IS NOT NULL AND s.available < s.available_floor)
          INTO v_rows, v_found, v_item, v_ids
          FROM first_refusal f;
        -- Every claimed change has its row, created above if it was missing: assert it.
        IF v_found <> v_rows THEN
            RAISE EXCEPTION 'apply_postings: % of % balance rows found', v_found, v_rows;
        END IF;
        IF v_item IS NOT NULL THEN
            v_code := 'BELOW_FLOOR';
            RAISE EXCEPTION 'posting refused' USING ERRCODE = 'RLRF1';
        END IF;
    EXCEPTION WHEN SQLSTATE 'RLRF1' THEN
        RETURN QUERY SELECT v_item, v_code, NULL::uuid, NULL::uuid, NULL::int2, NULL::int8, NULL::int8, NULL::int8, NULL::int8,
                            NULL::int8, NULL::timestamptz, v_ids, v_status;
        RETURN;
    END;

    -- Every row is locked and within its floor after every item: apply each row's net change once (the
    -- table's CHECK is the second guard) and answer with the rows as the batch left them; the caller, which
    -- has every item's changes, derives from them each item's rows as that item left them.
    RETURN QUERY
    UPDATE balances b SET
           debits_posted   = b.debits_posted   + n.debits_posted,
           credits_posted  = b.credits_posted  + n.credits_posted,
           debits_pending  = b.debits_pending  + n.debits_pending,
           credits_pending = b.credits_pending + n.credits_pending,
           version         = b.version + n.items,
           updated_at      = now()
      FROM (SELECT d.account_id, d.asset_id, d.shard, sum(d.debits_posted) AS debits_posted, sum(d.credits_posted) AS credits_posted,
                   sum(d.debits_pending) AS debits_pending, sum(d.credits_pending) AS credits_pending, count(*) AS items
              FROM unnest(d_items, d_account_ids, d_asset_ids, d_shards, d_debits_posted, d_credits_posted, d_debits_pending, d_credits_pending)
                   AS d(item, account_id, asset_id, shard, debits_posted, credits_posted, debits_pending, credits_pending)
             WHERE (v_all OR d.item = ANY (v_claimed))
             GROUP BY d.account_id, d.asset_id, d.shard) n
     WHERE b.root_ledger_id = p_root_ledger_id AND b.account_id = n.account_id AND b.asset_id = n.asset_id AND b.shard = n.shard
    RETURNING NULL::int, 'APPLIED'::text, b.account_id, b.asset_id, b.shard, b.debits_posted, b.credits_posted, b.debits_pending,
              b.credits_pending, b.version, b.updated_at, NULL::uuid[], NULL::text;
    GET DIAGNOSTICS v_changed = ROW_COUNT;
    IF v_changed <> v_found THEN
        RAISE EXCEPTION 'apply_postings: % of % balance rows changed', v_changed, v_found;
    END IF;

    IF NOT v_all THEN
        RETURN QUERY
        SELECT t.item::int, 'CLAIM_TAKEN'::text, NULL::uuid, NULL::uuid, NULL::int2, NULL::int8, NULL::int8, NULL::int8, NULL::int8,
               NULL::int8, NULL::timestamptz, NULL::uuid[], NULL::text
          FROM generate_subscripts(t_ids, 1) AS t(item)
         WHERE NOT (t.item = ANY (v_claimed));
    END IF;

    IF cardinality(array_remove(t_checkpoints_from, NULL)) > 0 THEN
        DELETE FROM balance_checkpoints c
         USING (SELECT d.account_id, min(t.from_at) AS from_at
                  FROM unnest(d_items, d_account_ids) AS d(item, account_id)
                  JOIN unnest(t_checkpoints_from) WITH ORDINALITY AS t(from_at, item) ON t.item = d.item
                 WHERE t.from_at IS NOT NULL AND (v_all OR d.item = ANY (v_claimed))
                 GROUP BY d.account_id) x
         WHERE c.root_ledger_id = p_root_ledger_id AND c.account_id = x.account_id AND c.as_of >= x.from_at;
    END IF;

    IF cardinality(e_ids) > 0 THEN
        INSERT INTO entries (id, root_ledger_id, transaction_id, account_id, ledger_id, asset_id, direction, amount, effective_at, pending)
        SELECT e.id, p_root_ledger_id, t_ids[e.item], e.account_id, e.ledger_id, e.asset_id, e.direction::"Direction", e.amount,
               t_effective_at[e.item], t_is_hold[e.item]
          FROM unnest(e_items, e_ids, e_account_ids, e_ledger_ids, e_asset_ids, e_directions, e_amounts)
               AS e(item, id, account_id, ledger_id, asset_id, direction, amount)
         WHERE (v_all OR e.item = ANY (v_claimed));
    END IF;

    INSERT INTO audit_events (id, root_ledger_id, actor_type, actor_id, operation, target_ids, request_id, client_address)
    SELECT t_audit_ids[g.item], p_root_ledger_id, a_actor_type, a_actor_id, a_operation, array_agg(g.id ORDER BY g.ord),
           a_request_id, a_client_address
      FROM unnest(g_items, g_ids) WITH ORDINALITY AS g(item, id, ord)
     WHERE (v_all OR g.item = ANY (v_claimed))
     GROUP BY g.item;
END;
$$;
