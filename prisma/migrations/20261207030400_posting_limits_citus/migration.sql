-- apply_posting_limits counts a posting against its tree's limits in one statement, whose CTEs nest
-- INSERT ... SELECT. On Citus the posting functions run on the worker that holds their root, where Citus
-- plans that statement as a distributed query and refuses it ("cannot execute a distributed query from a
-- query on a shard", docs/citus.md). Where Citus is loaded (citus.version is set) the same steps run as one
-- routable statement each: the wanted charges read into arrays, each counter raised and its charge recorded,
-- then the first ceiling passed. Elsewhere the one statement runs exactly as before: on plain Postgres the
-- change is one current_setting() call per posting of a tree with limits.
CREATE OR REPLACE FUNCTION "apply_posting_limits"(
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
    IF v_limit IS NOT NULL THEN
        RAISE EXCEPTION 'limit exceeded' USING ERRCODE = 'RLLE1',
            DETAIL = CASE WHEN p_item IS NULL THEN '' ELSE p_item || ';' END || v_limit || ':' || v_remaining;
    END IF;
END;
$$;
