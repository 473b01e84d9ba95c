-- One posting primitive. apply_posting (one posting) and apply_postings (an atomic batch) stated the same
-- rules twice; a posting is now a batch of one, and this one function states each rule once:
--   1. share-locks the customer accounts and reads their status;
--   2. claims each item's idempotency key (and, for a reversal, the right to reverse);
--   3. refuses a key already used for a different request, an item that moves value on an account that is
--      not ACTIVE, or a balance that would fall below its floor after any item;
--   4. locks every balance row, in one global order (account, asset, shard), so postings sharing rows
--      queue instead of deadlocking, and judges each floor on the locked rows after every item, in batch
--      order (running sums), exactly as if the items were applied one after another;
--   5. creates any balance row the batch is the first to touch, at zero, when step 4 finds it missing, and
--      then repeats step 4;
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
--
-- Cost (issue 10: no slower than the two functions it replaces). Most of a posting's database CPU is the
-- executor's start-up of each statement (plan nodes, compiled expressions), so each statement is one plain
-- scan where it can be: arrays are read by subscript over one ordinality scan rather than unnested side by
-- side (one function scan each, not one per array), running sums are a window over the batch's changes
-- joined to the rows under the lock rather than a chain of CTEs over the locked rows, missing balance rows
-- are looked for by the locking scan itself, and audit targets are gathered without a sort. Every write is
-- inside the refusal block, so the balance rows are locked and updated by one subtransaction: a lock taken
-- in a subtransaction and an update by its parent would cost a MultiXact per row.
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
    v_inactive       uuid[];
    -- v_all: every item claimed (the usual case); otherwise v_claimed lists the items that were
    v_all            boolean;
    v_claimed        int[];
    v_inserted       int;
    v_item           int;
    v_code           text;
    v_ids            uuid[];
    v_status         text;
    v_found          int;
    v_changes        int;
    v_pass           int;
    -- items after which a row is below its floor, and that row's account, pairwise
    v_below_items    int[];
    v_below_accounts uuid[];
BEGIN
    -- FOR KEY SHARE on the newest version of each row: its status is current, and a freeze or close,
    -- which takes FOR UPDATE, waits until this batch commits. System accounts never change status and
    -- are not locked, so the hot ones collect no lockers. The status test is the aggregate's FILTER, not a
    -- WHERE: Postgres would push a WHERE down into the locking subquery and lock only the inactive rows.
    SELECT array_agg(a.id) FILTER (WHERE a.status <> 'ACTIVE')
      INTO v_inactive
      FROM (SELECT id, status FROM accounts
             WHERE root_ledger_id = p_root_ledger_id AND id = ANY (p_account_ids)
             ORDER BY id
               FOR KEY SHARE) a;

    -- Everything from the claims on is undone if the batch is refused; the refusal is then answered as a
    -- row, from these variables, which the rollback of the block leaves alone.
    BEGIN
        -- Waits for a concurrent claimant of the same key or reversal, then wins or yields to it. Items are
        -- claimed in batch order (which the ordinality scan yields, so the ORDER BY costs no sort).
        INSERT INTO transactions (id, root_ledger_id, ledger_id, kind, status, idempotency_key, request_hash, description,
                                  metadata, effective_at, posted_at, reversal_of_id, is_hold, timeout_at)
        SELECT t_ids[t.i], p_root_ledger_id, t_ledger_ids[t.i], t_kinds[t.i]::"TransactionKind", t_statuses[t.i]::"TransactionStatus",
               t_idempotency_keys[t.i], t_request_hashes[t.i], t_descriptions[t.i], t_metadata[t.i], t_effective_at[t.i],
               t_posted_at[t.i], t_reversal_of_ids[t.i], t_is_hold[t.i], t_timeout_at[t.i]
          FROM unnest(t_ids) WITH ORDINALITY AS t(id, i)
         WHERE t.id IS NOT NULL
         ORDER BY t.i
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

        IF v_all THEN
            v_changes := cardinality(d_items);
        ELSE
            v_changes := (SELECT count(*) FROM unnest(d_items) AS d(item) WHERE d.item = ANY (v_claimed));
        END IF;
        -- Lock every row in the global order (account, asset, shard; a row several items change is locked at
        -- its first), and judge its floor on the locked, newest version after every item that changes it, in
        -- batch order: the row plus the running sums of those items' changes (a window over the changes
        -- alone, as a window cannot sit above the locks), as if the items were applied one after another.
        -- A change whose row does not exist yet finds none: the missing rows are then created at zero, which
        -- every floor allows, and the rows locked and judged again, all of them now (this is asserted). An
        -- upsert would not do, as Postgres checks a proposed row's CHECK constraints before its conflict.
        -- Unlike 0.2.0, which created missing rows before locking any, a batch creating a row holds its
        -- existing rows meanwhile: if a concurrent creator of that row waits for one of them, Postgres reports
        -- a deadlock (40P01), which the engine retries. Looking for missing rows before the locks instead
        -- costs a second lookup of every row on every posting (about 3 % of a transfer's instructions).
        FOR v_pass IN 1..2 LOOP
            SELECT count(*), array_agg(x.item) FILTER (WHERE x.below), array_agg(x.account_id) FILTER (WHERE x.below)
              INTO v_found, v_below_items, v_below_accounts
              FROM (SELECT r.item, b.account_id,
                           b.available_floor IS NOT NULL
                           AND available_of(b.normal_balance, b.debits_posted + r.debits_posted, b.credits_posted + r.credits_posted,
                                            b.debits_pending + r.debits_pending, b.credits_pending + r.credits_pending)
                               < b.available_floor AS below
                      FROM (SELECT d.item, d_account_ids[d.i] AS account_id, d_asset_ids[d.i] AS asset_id, d_shards[d.i] AS shard,
                                   (sum(d_debits_posted[d.i]) OVER w)::int8 AS debits_posted, (sum(d_credits_posted[d.i]) OVER w)::int8 AS credits_posted,
                                   (sum(d_debits_pending[d.i]) OVER w)::int8 AS debits_pending, (sum(d_credits_pending[d.i]) OVER w)::int8 AS credits_pending
                              FROM unnest(d_items) WITH ORDINALITY AS d(item, i)
                             WHERE (v_all OR d.item = ANY (v_claimed))
                            WINDOW w AS (PARTITION BY d_account_ids[d.i], d_asset_ids[d.i], d_shards[d.i] ORDER BY d.item)) r
                      JOIN balances b
                        ON b.root_ledger_id = p_root_ledger_id AND b.account_id = r.account_id AND b.asset_id = r.asset_id AND b.shard = r.shard
                     ORDER BY b.account_id, b.asset_id, b.shard, r.item
                       FOR UPDATE OF b) x;
            EXIT WHEN v_found = v_changes;
            IF v_pass = 2 THEN
                RAISE EXCEPTION 'apply_postings: % of % claimed balance changes found their row', v_found, v_changes;
            END IF;
            INSERT INTO balances (root_ledger_id, account_id, asset_id, shard, ledger_id, normal_balance, available_floor)
            SELECT DISTINCT ON (d_account_ids[d.i], d_asset_ids[d.i], d_shards[d.i])
                   p_root_ledger_id, d_account_ids[d.i], d_asset_ids[d.i], d_shards[d.i], d_ledger_ids[d.i],
                   d_normal_balances[d.i]::"NormalBalance", d_available_floors[d.i]
              FROM unnest(d_items) WITH ORDINALITY AS d(item, i)
             WHERE (v_all OR d.item = ANY (v_claimed))
               AND NOT EXISTS (SELECT 1 FROM balances b
                                WHERE b.root_ledger_id = p_root_ledger_id AND b.account_id = d_account_ids[d.i]
                                  AND b.asset_id = d_asset_ids[d.i] AND b.shard = d_shards[d.i])
             ORDER BY d_account_ids[d.i], d_asset_ids[d.i], d_shards[d.i]
            ON CONFLICT DO NOTHING;
        END LOOP;
        IF v_below_items IS NOT NULL THEN
            v_item := (SELECT min(b.item) FROM unnest(v_below_items) AS b(item));
            v_code := 'BELOW_FLOOR';
            SELECT array_agg(DISTINCT b.account_id ORDER BY b.account_id)
              INTO v_ids
              FROM unnest(v_below_items, v_below_accounts) AS b(item, account_id)
             WHERE b.item = v_item;
            RAISE EXCEPTION 'posting refused' USING ERRCODE = 'RLRF1';
        END IF;

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
          FROM (SELECT d_account_ids[d.i] AS account_id, d_asset_ids[d.i] AS asset_id, d_shards[d.i] AS shard,
                       sum(d_debits_posted[d.i]) AS debits_posted, sum(d_credits_posted[d.i]) AS credits_posted,
                       sum(d_debits_pending[d.i]) AS debits_pending, sum(d_credits_pending[d.i]) AS credits_pending,
                       count(*) AS items
                  FROM unnest(d_items) WITH ORDINALITY AS d(item, i)
                 WHERE (v_all OR d.item = ANY (v_claimed))
                 GROUP BY 1, 2, 3) n
         WHERE b.root_ledger_id = p_root_ledger_id AND b.account_id = n.account_id AND b.asset_id = n.asset_id AND b.shard = n.shard
        RETURNING NULL::int, 'APPLIED'::text, b.account_id, b.asset_id, b.shard, b.debits_posted, b.credits_posted, b.debits_pending,
                  b.credits_pending, b.version, b.updated_at, NULL::uuid[], NULL::text;

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
            SELECT e_ids[e.i], p_root_ledger_id, t_ids[e.item], e_account_ids[e.i], e_ledger_ids[e.i], e_asset_ids[e.i],
                   e_directions[e.i]::"Direction", e_amounts[e.i], t_effective_at[e.item], t_is_hold[e.item]
              FROM unnest(e_items) WITH ORDINALITY AS e(item, i)
             WHERE (v_all OR e.item = ANY (v_claimed));
        END IF;

        -- One audit event per claimed item that has targets (g_items says whose each target is).
        INSERT INTO audit_events (id, root_ledger_id, actor_type, actor_id, operation, target_ids, request_id, client_address)
        SELECT t.audit_id, p_root_ledger_id, a_actor_type, a_actor_id, a_operation,
               ARRAY(SELECT g_ids[g.i] FROM unnest(g_items) WITH ORDINALITY AS g(item, i) WHERE g.item = t.item ORDER BY g.i),
               a_request_id, a_client_address
          FROM unnest(t_audit_ids) WITH ORDINALITY AS t(audit_id, item)
         WHERE (v_all OR t.item = ANY (v_claimed)) AND t.item = ANY (g_items);
    EXCEPTION WHEN SQLSTATE 'RLRF1' THEN
        RETURN QUERY SELECT v_item, v_code, NULL::uuid, NULL::uuid, NULL::int2, NULL::int8, NULL::int8, NULL::int8, NULL::int8,
                            NULL::int8, NULL::timestamptz, v_ids, v_status;
    END;
END;
$$;
