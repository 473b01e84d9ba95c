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
    -- judge each floor on the locked, newest version of its row: the only place the floor rule is applied.
    SELECT string_agg(DISTINCT x.account_id::text, ',') FILTER (WHERE x.below_floor)
      INTO v_refused
      FROM (SELECT b.account_id,
                   b.available_floor IS NOT NULL
                   AND (CASE b.normal_balance
                          WHEN 'CREDIT' THEN (b.credits_posted + d.credits_posted) - (b.debits_posted + d.debits_posted)
                                             - (b.debits_pending + d.debits_pending)
                          ELSE (b.debits_posted + d.debits_posted) - (b.credits_posted + d.credits_posted)
                               - (b.credits_pending + d.credits_pending)
                        END) < b.available_floor AS below_floor
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
