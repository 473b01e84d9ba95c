-- The event feed's triggers, in a form Citus runs (docs/citus.md). On Citus a trigger runs on a shard:
--
-- 1. Its rows are of the shard's own type ("accounts_102008"), and its transition table's rows are anonymous
--    records there, so ledger_event_account(a "accounts") matched no call. The account payload is now built
--    from the row's columns, which every form of the row has; the SQL function is still inlined.
-- 2. A statement that reads the transition table and writes the distributed ledger_events fails there
--    ("could not find named tuplestore": Citus plans the INSERT ... SELECT without the trigger's tuplestore).
--    The statement-level triggers now first gather the new rows' columns into arrays (a statement on the
--    transition table alone), then insert from the arrays: still one INSERT per statement however many rows
--    it wrote, at the price of one more cheap statement inside the trigger on plain Postgres.
DROP FUNCTION "ledger_event_account"("accounts");
CREATE FUNCTION "ledger_event_account"(
    p_id uuid, p_ledger_id uuid, p_root_ledger_id uuid, p_code text, p_name text, p_normal_balance "NormalBalance",
    p_allow_overdraft boolean, p_overdraft_limit bigint, p_status "AccountStatus", p_is_system boolean,
    p_metadata jsonb, p_created_at timestamptz, p_updated_at timestamptz
) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'id', p_id, 'ledgerId', p_ledger_id, 'rootLedgerId', p_root_ledger_id, 'code', p_code, 'name', p_name,
        'normalBalance', p_normal_balance, 'allowOverdraft', p_allow_overdraft,
        'overdraftLimit', p_overdraft_limit::text, 'status', p_status, 'isSystem', p_is_system,
        'metadata', p_metadata,
        'createdAt', to_char(p_created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'updatedAt', to_char(p_updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
$$;

CREATE OR REPLACE FUNCTION "ledger_events_transactions_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_xid int8 := pg_current_xact_id()::text::int8;
    v_roots uuid[];
    v_ledgers uuid[];
    v_ids uuid[];
    v_statuses "TransactionStatus"[];
    v_posted timestamptz[];
BEGIN
    SELECT array_agg(n."root_ledger_id"), array_agg(n."ledger_id"), array_agg(n."id"), array_agg(n."status"),
           array_agg(n."posted_at")
      INTO v_roots, v_ledgers, v_ids, v_statuses, v_posted
      FROM "new_transactions" n;
    INSERT INTO "ledger_events" ("root_ledger_id", "xid", "id", "type", "ledger_id", "transaction_id", "status", "occurred_at")
    SELECT n.root_ledger_id, v_xid, nextval('ledger_events_id_seq'), 1, n.ledger_id, n.id, n.status, n.posted_at
      FROM unnest(v_roots, v_ledgers, v_ids, v_statuses, v_posted) AS n (root_ledger_id, ledger_id, id, status, posted_at);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION "ledger_events_accounts_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_xid int8 := pg_current_xact_id()::text::int8;
    v_roots uuid[];
    v_ledgers uuid[];
    v_ids uuid[];
    v_created timestamptz[];
    v_payloads jsonb[];
BEGIN
    SELECT array_agg(n."root_ledger_id"), array_agg(n."ledger_id"), array_agg(n."id"), array_agg(n."created_at"),
           array_agg("ledger_event_account"(n."id", n."ledger_id", n."root_ledger_id", n."code", n."name",
                                            n."normal_balance", n."allow_overdraft", n."overdraft_limit", n."status",
                                            n."is_system", n."metadata", n."created_at", n."updated_at"))
      INTO v_roots, v_ledgers, v_ids, v_created, v_payloads
      FROM "new_accounts" n;
    INSERT INTO "ledger_events" ("root_ledger_id", "xid", "id", "type", "ledger_id", "account_id", "occurred_at", "payload")
    SELECT n.root_ledger_id, v_xid, nextval('ledger_events_id_seq'), 3, n.ledger_id, n.id, n.created_at, n.payload
      FROM unnest(v_roots, v_ledgers, v_ids, v_created, v_payloads) AS n (root_ledger_id, ledger_id, id, created_at, payload);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION "ledger_events_account_updated"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "ledger_events" ("root_ledger_id", "xid", "id", "type", "ledger_id", "account_id", "occurred_at", "payload")
    VALUES (NEW."root_ledger_id", pg_current_xact_id()::text::int8, nextval('ledger_events_id_seq'), 4, NEW."ledger_id",
            NEW."id", clock_timestamp(),
            "ledger_event_account"(NEW."id", NEW."ledger_id", NEW."root_ledger_id", NEW."code", NEW."name",
                                   NEW."normal_balance", NEW."allow_overdraft", NEW."overdraft_limit", NEW."status",
                                   NEW."is_system", NEW."metadata", NEW."created_at", NEW."updated_at"));
    RETURN NULL;
END;
$$;
