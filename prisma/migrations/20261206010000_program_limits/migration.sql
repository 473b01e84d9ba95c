-- Program rules (issue 13): limits as data, and clawback debt.
--
-- Limits. A limit is a row: on a ledger subtree, for an asset, of a kind —
--   EARN_PER_PERIOD    counts the credits of ISSUE and ADJUST postings to a customer account, per calendar period;
--   REDEEM_PER_PERIOD  counts the debits of REDEEM postings to a customer account, per calendar period;
--   MAX_BALANCE        bounds a customer account's posted balance after a posting that raises it.
-- Periods are calendar periods (DAY, WEEK from Monday, MONTH, YEAR) in the limit's IANA zone, computed by
-- limit_period_start, which states the rule of src/platform/calendar.core.ts in SQL (test/limits-calendar.test.ts
-- holds the two against each other). A posting counts in the period of its effective time. Usage is a counter row
-- per (limit, account, period), changed only by the posting functions while they hold the account's balance row
-- lock, so concurrent postings queue on it and no update is lost; each posting's share is kept in limit_charges, so
-- its reversal gives back exactly what it counted. Reversals are not themselves counted or bounded.
-- A refusal is SQLSTATE RLLE1, DETAIL "limitId:remaining" ("item;limitId:remaining" from apply_postings).
--
-- Clawback debt. balances.debt is how far a reversal with allowDebt took the row below its floor. It is always
-- max(0, floor - available): a reversal with allowDebt sets it, and every later posting can only lower it (a
-- credit repays debt before anything becomes available). The row's CHECK allows available down to floor - debt.

ALTER TABLE "balances" ADD COLUMN "debt" BIGINT NOT NULL DEFAULT 0;
ALTER TABLE "balances" DROP CONSTRAINT "balances_within_limit";
ALTER TABLE "balances" ADD CONSTRAINT "balances_within_limit" CHECK (
    "available_floor" IS NULL OR
    (CASE "normal_balance"
        WHEN 'CREDIT' THEN "credits_posted" - "debits_posted" - "debits_pending"
        ELSE "debits_posted" - "credits_posted" - "credits_pending"
     END) >= "available_floor" - "debt");
ALTER TABLE "balances" ADD CONSTRAINT "balances_debt_shape" CHECK (
    "debt" >= 0 AND ("available_floor" IS NOT NULL OR "debt" = 0));

CREATE TABLE "limits" (
    "id"             UUID NOT NULL,
    "root_ledger_id" UUID NOT NULL,
    "ledger_id"      UUID NOT NULL,
    "asset_id"       UUID NOT NULL,
    "kind"           TEXT NOT NULL,
    "amount"         BIGINT NOT NULL,
    "period"         TEXT,
    "time_zone"      TEXT NOT NULL DEFAULT 'UTC',
    "created_at"     TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    -- A deleted limit stops counting and bounding; its row stays for the charges that name it.
    "deleted_at"     TIMESTAMPTZ(3),
    CONSTRAINT "limits_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "limits_shape" CHECK (
        "amount" >= 0
        AND char_length("time_zone") BETWEEN 1 AND 64
        AND (("kind" IN ('EARN_PER_PERIOD', 'REDEEM_PER_PERIOD') AND "period" IN ('DAY', 'WEEK', 'MONTH', 'YEAR'))
             OR ("kind" = 'MAX_BALANCE' AND "period" IS NULL)))
);
-- deleteLimit names a limit by id alone.
CREATE INDEX "limits_id_idx" ON "limits"("id");
CREATE INDEX "limits_active_idx" ON "limits"("root_ledger_id", "asset_id", "kind") WHERE "deleted_at" IS NULL;
ALTER TABLE "limits" ADD CONSTRAINT "limits_ledger_fkey"
    FOREIGN KEY ("root_ledger_id", "ledger_id") REFERENCES "ledgers"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "limits" ADD CONSTRAINT "limits_asset_fkey"
    FOREIGN KEY ("root_ledger_id", "asset_id") REFERENCES "assets"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

CREATE TABLE "limit_usage" (
    "root_ledger_id" UUID NOT NULL,
    "limit_id"       UUID NOT NULL,
    "account_id"     UUID NOT NULL,
    "period_start"   TIMESTAMPTZ NOT NULL,
    "used"           BIGINT NOT NULL,
    CONSTRAINT "limit_usage_pkey" PRIMARY KEY ("root_ledger_id", "limit_id", "account_id", "period_start"),
    CONSTRAINT "limit_usage_used_non_negative" CHECK ("used" >= 0)
);
ALTER TABLE "limit_usage" ADD CONSTRAINT "limit_usage_limit_fkey"
    FOREIGN KEY ("root_ledger_id", "limit_id") REFERENCES "limits"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "limit_usage" ADD CONSTRAINT "limit_usage_account_fkey"
    FOREIGN KEY ("root_ledger_id", "account_id") REFERENCES "accounts"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- What each posting counted against each limit: its reversal gives exactly this back.
CREATE TABLE "limit_charges" (
    "root_ledger_id" UUID NOT NULL,
    "transaction_id" UUID NOT NULL,
    "limit_id"       UUID NOT NULL,
    "account_id"     UUID NOT NULL,
    "period_start"   TIMESTAMPTZ NOT NULL,
    "amount"         BIGINT NOT NULL,
    CONSTRAINT "limit_charges_pkey" PRIMARY KEY ("root_ledger_id", "transaction_id", "limit_id", "account_id"),
    CONSTRAINT "limit_charges_amount_positive" CHECK ("amount" > 0)
);
ALTER TABLE "limit_charges" ADD CONSTRAINT "limit_charges_transaction_fkey"
    FOREIGN KEY ("root_ledger_id", "transaction_id") REFERENCES "transactions"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
-- No foreign key to limits: its check would take a KEY SHARE lock on the limit's row in every posting, and one
-- limit row shared by every concurrent posting of a tree turns those locks into MultiXacts. The charges are
-- written only by apply_posting_limits, with a limit id it has just read, and limits are never deleted (only
-- marked deleted_at); the integrity report compares charges with counters.
CREATE TRIGGER "limit_charges_append_only" BEFORE UPDATE OR DELETE ON "limit_charges"
    FOR EACH ROW EXECUTE FUNCTION "reject_journal_change"();

-- The start of the calendar period containing an instant, in a zone (calendar.core.ts periodBoundary, offset 0):
-- local midnight of the day, of the Monday of the ISO week, of the 1st, of 1 January, read back as an instant the
-- way `timestamp AT TIME ZONE` does.
CREATE FUNCTION "limit_period_start"(p_period text, p_time_zone text, p_at timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_trunc(lower(p_period), p_at AT TIME ZONE p_time_zone) AT TIME ZONE p_time_zone
$$;

-- The end of that period: the start of the next one (calendar.core.ts periodBoundary, offset 1).
CREATE FUNCTION "limit_period_end"(p_period text, p_time_zone text, p_at timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (date_trunc(lower(p_period), p_at AT TIME ZONE p_time_zone) + ('1 ' || lower(p_period))::interval)
           AT TIME ZONE p_time_zone
$$;

-- A posted balance in its normal direction (the quantity MAX_BALANCE bounds); linear, so it serves changes too.
CREATE FUNCTION "posted_of"(normal_balance "NormalBalance", debits_posted int8, credits_posted int8)
RETURNS int8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE normal_balance WHEN 'CREDIT' THEN credits_posted - debits_posted ELSE debits_posted - credits_posted END
$$;

-- A row's debt after a posting leaves it with `available`: a reversal allowed to leave debt records the whole
-- shortfall below the floor; any other posting only repays (it cannot lower available below the floor).
CREATE FUNCTION "balance_debt"(available_floor int8, debt int8, allow_debt boolean, available int8)
RETURNS int8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
             WHEN available_floor IS NULL THEN 0
             WHEN allow_debt THEN greatest(0, available_floor - available)
             ELSE least(debt, greatest(0, available_floor - available))
           END
$$;

-- A reversal gives back to each counter what its original counted there.
CREATE FUNCTION "limits_give_back"(p_root_ledger_id uuid, p_original_id uuid) RETURNS void LANGUAGE sql AS $$
    UPDATE limit_usage u SET used = u.used - c.amount
      FROM limit_charges c
     WHERE c.root_ledger_id = p_root_ledger_id AND c.transaction_id = p_original_id
       AND u.root_ledger_id = p_root_ledger_id AND u.limit_id = c.limit_id AND u.account_id = c.account_id
       AND u.period_start = c.period_start
$$;

-- Counts one posting (an item of a batch when p_item is not null) against the limits of its customer accounts'
-- subtrees, and refuses it (RLLE1) when a counter would pass its limit or a raised balance its ceiling. Called by
-- the posting functions after they have locked and updated the balance rows; r_* are the customer rows whose
-- posted balance the posting raises, by how much, and how much later items of a batch changed them since
-- (0 for a single posting), so the balance after this posting is the row's posted less r_later.
-- One statement when nothing is refused: this runs inside every posting of a tree that has limits. Called
-- only from the posting functions, whose plan_cache_mode it inherits.
CREATE FUNCTION "apply_posting_limits"(
    p_root_ledger_id uuid,
    p_item           int,
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
) RETURNS void
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
BEGIN
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
    IF v_limit IS NOT NULL THEN
        RAISE EXCEPTION 'limit exceeded' USING ERRCODE = 'RLLE1',
            DETAIL = CASE WHEN p_item IS NULL THEN '' ELSE p_item || ';' END || v_limit || ':' || v_remaining;
    END IF;
END;
$$;

-- apply_posting gains p_allow_debt (clawback debt) and program limits. A row in debt may take what repays it.
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
    p_checkpoints_from   timestamptz,
    -- a reversal that may leave its customers in clawback debt (reverseTransaction(allowDebt: true)): a
    -- balance it takes below its floor is not refused, and the shortfall is recorded as the row's debt
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
-- Generic plans: every call has the same shape, and re-planning each statement per call cost as much
-- CPU as executing it (see src/platform/transaction.ts).
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_not_active text;
    v_changed    int;
    v_refused    text;
    v_i          int;
    v_rise       int8;
    r_account_ids uuid[] := '{}';
    r_ledger_ids  uuid[] := '{}';
    r_asset_ids   uuid[] := '{}';
    r_rises       int8[] := '{}';
    r_later       int8[] := '{}';
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
                   AND NOT p_allow_debt
                   AND available_of(b.normal_balance, b.debits_posted + d.debits_posted, b.credits_posted + d.credits_posted,
                                    b.debits_pending + d.debits_pending, b.credits_pending + d.credits_pending)
                       < b.available_floor
                   -- A row in debt sits below its floor; what does not lower it further (a credit that repays,
                   -- a release) is allowed.
                   AND available_of(b.normal_balance, d.debits_posted, d.credits_posted, d.debits_pending, d.credits_pending) < 0
                       AS below_floor
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
           debt            = balance_debt(b.available_floor, b.debt, p_allow_debt,
                                          available_of(b.normal_balance, b.debits_posted + d.debits_posted,
                                                       b.credits_posted + d.credits_posted, b.debits_pending + d.debits_pending,
                                                       b.credits_pending + d.credits_pending)),
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

    -- Program limits, under the balance locks just taken: every usage counter of an account changes only
    -- while its balance row is locked, so concurrent postings queue and none is lost. A hold counts when
    -- it is captured (the capture is a posted transaction of the hold's kind), so a hold counts nothing.
    IF p_transaction_id IS NOT NULL AND NOT p_is_hold THEN
        IF p_reversal_of_id IS NOT NULL THEN
            PERFORM limits_give_back(p_root_ledger_id, p_reversal_of_id);
        ELSIF EXISTS (SELECT 1 FROM limits l WHERE l.root_ledger_id = p_root_ledger_id AND l.deleted_at IS NULL) THEN
            -- The customer rows whose posted balance rises, found without a statement (a posting has few rows).
            FOR v_i IN 1 .. cardinality(d_account_ids) LOOP
                v_rise := CASE d_normal_balances[v_i] WHEN 'CREDIT' THEN d_credits_posted[v_i] - d_debits_posted[v_i]
                                                      ELSE d_debits_posted[v_i] - d_credits_posted[v_i] END;
                IF v_rise > 0 AND d_account_ids[v_i] = ANY (p_account_ids) THEN
                    r_account_ids := r_account_ids || d_account_ids[v_i];
                    r_ledger_ids  := r_ledger_ids || d_ledger_ids[v_i];
                    r_asset_ids   := r_asset_ids || d_asset_ids[v_i];
                    r_rises       := r_rises || v_rise;
                    r_later       := r_later || 0::int8;
                END IF;
            END LOOP;
            PERFORM apply_posting_limits(
                p_root_ledger_id, NULL, p_transaction_id, p_kind, p_effective_at, p_account_ids,
                e_account_ids, e_ledger_ids, e_asset_ids, e_directions, e_amounts,
                r_account_ids, r_ledger_ids, r_asset_ids, r_rises, r_later);
        END IF;
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

-- The signature of the previous release, kept for a server of that release during a rolling upgrade: the
-- same posting, never leaving debt. It is now subject to program limits too, which is the point of them.
CREATE OR REPLACE FUNCTION "apply_posting"(
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
LANGUAGE sql
AS $$
    SELECT * FROM apply_posting(p_root_ledger_id, p_account_ids, p_require_active, p_transaction_id, p_ledger_id, p_kind, p_status, p_idempotency_key, p_request_hash, p_description, p_metadata, p_effective_at, p_posted_at, p_reversal_of_id, p_is_hold, p_timeout_at, d_account_ids, d_asset_ids, d_shards, d_ledger_ids, d_normal_balances, d_available_floors, d_debits_posted, d_credits_posted, d_debits_pending, d_credits_pending, e_ids, e_account_ids, e_ledger_ids, e_asset_ids, e_directions, e_amounts, a_id, a_actor_type, a_actor_id, a_operation, a_target_ids, a_request_id, a_client_address, p_checkpoints_from, false)
$$;

-- apply_postings keeps its signature; it gains the same debt rule and program limits, item by item.
CREATE OR REPLACE FUNCTION "apply_postings"(
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
               available_of(l.normal_balance, d.debits_posted, d.credits_posted, d.debits_pending, d.credits_pending) AS change,
               available_of(l.normal_balance, l.debits_posted, l.credits_posted, l.debits_pending, l.credits_pending)
               + sum(available_of(l.normal_balance, d.debits_posted, d.credits_posted, d.debits_pending, d.credits_pending))
                   OVER (PARTITION BY d.account_id, d.asset_id, d.shard ORDER BY d.item) AS available
          FROM d JOIN locked l ON l.account_id = d.account_id AND l.asset_id = d.asset_id AND l.shard = d.shard
    ), refusals AS (
        -- As in apply_posting: a row in clawback debt sits below its floor, and only what lowers it is refused.
        SELECT item, account_id FROM steps WHERE available_floor IS NOT NULL AND available < available_floor AND change < 0
    ), first_refusal AS (
        SELECT min(item) AS item FROM refusals
    )
    SELECT f.item, f.item || ';' || string_agg(DISTINCT s.account_id::text, ',')
      INTO v_item, v_detail
      FROM first_refusal f
      JOIN refusals s ON s.item = f.item
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
               debt            = balance_debt(b.available_floor, b.debt, false,
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

    -- Program limits, item by item in batch order, under the balance locks taken above. Each item's
    -- balances are the final rows less the posted changes of the items after it.
    IF EXISTS (SELECT 1 FROM limits l WHERE l.root_ledger_id = p_root_ledger_id AND l.deleted_at IS NULL) THEN
        FOR v_item IN SELECT c.item FROM unnest(v_claimed) AS c(item) WHERE NOT t_is_hold[c.item] ORDER BY c.item LOOP
            PERFORM apply_posting_limits(
                p_root_ledger_id, v_item, t_ids[v_item], t_kinds[v_item], t_effective_at[v_item], p_account_ids,
                e.account_ids, e.ledger_ids, e.asset_ids, e.directions, e.amounts,
                r.account_ids, r.ledger_ids, r.asset_ids, coalesce(r.rises, '{}'), r.later)
              FROM (SELECT coalesce(array_agg(x.account_id), '{}') AS account_ids, coalesce(array_agg(x.ledger_id), '{}') AS ledger_ids,
                           coalesce(array_agg(x.asset_id), '{}') AS asset_ids, coalesce(array_agg(x.direction), '{}') AS directions,
                           coalesce(array_agg(x.amount), '{}') AS amounts
                      FROM unnest(e_items, e_account_ids, e_ledger_ids, e_asset_ids, e_directions, e_amounts)
                           AS x(item, account_id, ledger_id, asset_id, direction, amount)
                     WHERE x.item = v_item) e,
                   (SELECT array_agg(y.account_id) AS account_ids, array_agg(y.ledger_id) AS ledger_ids,
                           array_agg(y.asset_id) AS asset_ids, array_agg(y.rise) AS rises, array_agg(y.later) AS later
                      FROM (SELECT d.account_id, d.ledger_id, d.asset_id,
                                   posted_of(d.normal_balance::"NormalBalance", d.debits_posted, d.credits_posted) AS rise,
                                   coalesce((SELECT sum(posted_of(d.normal_balance::"NormalBalance", z.debits_posted, z.credits_posted))::int8
                                                 FROM unnest(d_items, d_account_ids, d_asset_ids, d_debits_posted, d_credits_posted)
                                                      AS z(item, account_id, asset_id, debits_posted, credits_posted)
                                                WHERE z.item > v_item AND z.item = ANY (v_claimed)
                                                  AND z.account_id = d.account_id AND z.asset_id = d.asset_id), 0) AS later
                              FROM unnest(d_items, d_account_ids, d_ledger_ids, d_asset_ids, d_shards, d_normal_balances,
                                          d_debits_posted, d_credits_posted)
                                   AS d(item, account_id, ledger_id, asset_id, shard, normal_balance, debits_posted, credits_posted)
                             WHERE d.item = v_item AND d.account_id = ANY (p_account_ids)) y
                     WHERE y.rise > 0) r;
        END LOOP;
    END IF;

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
