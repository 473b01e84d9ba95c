-- The durable event feed (partner webhooks, which read it, come in a later migration).
--
-- Every committed posting and account change is one compact row in ledger_events, written by triggers in
-- the writing transaction itself, so an event exists if and only if its change committed. The triggers
-- leave apply_posting / apply_postings untouched. The rich payload (a transaction with its entries) is
-- built at read time from the immutable journal; only what can change later (a hold's status and
-- posted_at, an account's fields) is captured in the row.
--
-- Ordering. Ids from a sequence are not commit-ordered, so the feed orders by (xid, id), where xid is
-- the writing transaction's pg_current_xact_id(), and a reader only reads rows with xid below
-- pg_snapshot_xmin(pg_current_snapshot()): every transaction below that watermark has finished, and
-- every row written later carries a larger xid, so a cursor (xid, id) never skips or repeats a row.

CREATE SEQUENCE "ledger_events_id_seq" AS BIGINT;

CREATE TABLE "ledger_events" (
    "root_ledger_id" UUID NOT NULL,
    -- The writing transaction: pg_current_xact_id() (an xid8, epoch-qualified, as int8).
    "xid"            BIGINT NOT NULL,
    "id"             BIGINT NOT NULL,
    -- 1 transaction.posted, 2 transaction.voided, 3 account.created, 4 account.updated (events.core.ts).
    "type"           SMALLINT NOT NULL,
    -- The transaction's ledger, or the account's.
    "ledger_id"      UUID NOT NULL,
    "transaction_id" UUID,
    "account_id"     UUID,
    -- The transaction's status and posted_at when the event happened (a hold is later posted or voided).
    "status"         "TransactionStatus",
    "occurred_at"    TIMESTAMPTZ(3) NOT NULL,
    -- Account events only: the account as it was after the change.
    "payload"        JSONB,
    CONSTRAINT "ledger_events_pkey" PRIMARY KEY ("root_ledger_id", "xid", "id"),
    CONSTRAINT "ledger_events_type_range" CHECK ("type" BETWEEN 1 AND 32),
    CONSTRAINT "ledger_events_subject" CHECK (("transaction_id" IS NOT NULL) OR ("account_id" IS NOT NULL))
);
ALTER SEQUENCE "ledger_events_id_seq" OWNED BY "ledger_events"."id";

CREATE TRIGGER "ledger_events_append_only" BEFORE UPDATE OR DELETE ON "ledger_events"
    FOR EACH ROW EXECUTE FUNCTION "reject_journal_change"();

-- One INSERT per statement, however many transactions the statement wrote (atomic batches write many).
CREATE FUNCTION "ledger_events_transactions_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_xid int8 := pg_current_xact_id()::text::int8;
BEGIN
    INSERT INTO "ledger_events" ("root_ledger_id", "xid", "id", "type", "ledger_id", "transaction_id", "status", "occurred_at")
    SELECT n."root_ledger_id", v_xid, nextval('ledger_events_id_seq'), 1, n."ledger_id", n."id", n."status", n."posted_at"
      FROM "new_transactions" n;
    RETURN NULL;
END;
$$;
CREATE TRIGGER "ledger_events_transactions_inserted" AFTER INSERT ON "transactions"
    REFERENCING NEW TABLE AS "new_transactions"
    FOR EACH STATEMENT EXECUTE FUNCTION "ledger_events_transactions_inserted"();

-- Only voids produce an event; a captured hold's capture is its own posted transaction.
CREATE FUNCTION "ledger_events_transaction_voided"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "ledger_events" ("root_ledger_id", "xid", "id", "type", "ledger_id", "transaction_id", "status", "occurred_at")
    VALUES (NEW."root_ledger_id", pg_current_xact_id()::text::int8, nextval('ledger_events_id_seq'), 2, NEW."ledger_id",
            NEW."id", NEW."status", NEW."posted_at");
    RETURN NULL;
END;
$$;
CREATE TRIGGER "ledger_events_transaction_voided" AFTER UPDATE OF "status" ON "transactions"
    FOR EACH ROW WHEN (NEW."status" = 'VOIDED' AND OLD."status" <> 'VOIDED')
    EXECUTE FUNCTION "ledger_events_transaction_voided"();

CREATE FUNCTION "ledger_event_account"(a "accounts") RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'id', a."id", 'ledgerId', a."ledger_id", 'rootLedgerId', a."root_ledger_id", 'code', a."code", 'name', a."name",
        'normalBalance', a."normal_balance", 'allowOverdraft', a."allow_overdraft",
        'overdraftLimit', a."overdraft_limit"::text, 'status', a."status", 'isSystem', a."is_system",
        'metadata', a."metadata",
        'createdAt', to_char(a."created_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'updatedAt', to_char(a."updated_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
$$;

CREATE FUNCTION "ledger_events_accounts_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_xid int8 := pg_current_xact_id()::text::int8;
BEGIN
    INSERT INTO "ledger_events" ("root_ledger_id", "xid", "id", "type", "ledger_id", "account_id", "occurred_at", "payload")
    SELECT n."root_ledger_id", v_xid, nextval('ledger_events_id_seq'), 3, n."ledger_id", n."id", n."created_at",
           "ledger_event_account"(n)
      FROM "new_accounts" n;
    RETURN NULL;
END;
$$;
CREATE TRIGGER "ledger_events_accounts_inserted" AFTER INSERT ON "accounts"
    REFERENCING NEW TABLE AS "new_accounts"
    FOR EACH STATEMENT EXECUTE FUNCTION "ledger_events_accounts_inserted"();

CREATE FUNCTION "ledger_events_account_updated"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "ledger_events" ("root_ledger_id", "xid", "id", "type", "ledger_id", "account_id", "occurred_at", "payload")
    VALUES (NEW."root_ledger_id", pg_current_xact_id()::text::int8, nextval('ledger_events_id_seq'), 4, NEW."ledger_id",
            NEW."id", clock_timestamp(), "ledger_event_account"(NEW));
    RETURN NULL;
END;
$$;
CREATE TRIGGER "ledger_events_account_updated" AFTER UPDATE ON "accounts"
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION "ledger_events_account_updated"();
