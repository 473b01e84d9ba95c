-- Core ledger schema.
--
-- Every tenant-owned table carries root_ledger_id and puts it first in its primary key, unique keys
-- and foreign keys, so the schema can be distributed by root ledger (Citus) without change, and so the
-- database itself refuses a row that points across two trees.

CREATE TYPE "AssetKind" AS ENUM ('POINTS', 'CURRENCY', 'CASHBACK', 'STORE_CREDIT', 'GIFT_CARD', 'VOUCHER', 'OTHER');
CREATE TYPE "NormalBalance" AS ENUM ('CREDIT', 'DEBIT');
CREATE TYPE "AccountStatus" AS ENUM ('ACTIVE', 'FROZEN', 'CLOSED');
CREATE TYPE "Direction" AS ENUM ('DEBIT', 'CREDIT');
CREATE TYPE "TransactionKind" AS ENUM ('ISSUE', 'REDEEM', 'TRANSFER', 'ADJUST', 'EXPIRE', 'REVERSAL', 'GENERIC');
CREATE TYPE "TransactionStatus" AS ENUM ('PENDING', 'POSTED', 'VOIDED');
CREATE TYPE "ApiKeyRole" AS ENUM ('ADMIN', 'OPERATOR', 'READER');

CREATE TABLE "ledgers" (
    "id"             UUID NOT NULL,
    "root_ledger_id" UUID NOT NULL,
    "parent_id"      UUID,
    "code"           TEXT NOT NULL,
    "name"           TEXT NOT NULL,
    "metadata"       JSONB NOT NULL DEFAULT '{}',
    -- Ids from the root down to this ledger inclusive: a subtree is `path @> ARRAY[ancestor]`.
    "path"           UUID[] NOT NULL,
    "created_at"     TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ledgers_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "ledgers_root_shape" CHECK (("parent_id" IS NULL) = ("id" = "root_ledger_id")),
    CONSTRAINT "ledgers_path_shape" CHECK ("path"[1] = "root_ledger_id" AND "path"[cardinality("path")] = "id"),
    CONSTRAINT "ledgers_metadata_object" CHECK (jsonb_typeof("metadata") = 'object')
);
CREATE INDEX "ledgers_id_idx" ON "ledgers"("id");
CREATE UNIQUE INDEX "ledgers_root_ledger_id_code_key" ON "ledgers"("root_ledger_id", "code");
CREATE INDEX "ledgers_root_ledger_id_parent_id_id_idx" ON "ledgers"("root_ledger_id", "parent_id", "id");
CREATE INDEX "ledgers_path_idx" ON "ledgers" USING GIN ("path");
-- Root codes name tenants and are looked up globally (`ledger(code:)`).
CREATE UNIQUE INDEX "ledgers_root_code_key" ON "ledgers"("code") WHERE "parent_id" IS NULL;
ALTER TABLE "ledgers" ADD CONSTRAINT "ledgers_parent_fkey"
    FOREIGN KEY ("root_ledger_id", "parent_id") REFERENCES "ledgers"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

CREATE TABLE "assets" (
    "id"                 UUID NOT NULL,
    "root_ledger_id"     UUID NOT NULL,
    -- Assets are defined on a root ledger and usable throughout its tree.
    "ledger_id"          UUID NOT NULL,
    "code"               TEXT NOT NULL,
    "name"               TEXT NOT NULL,
    "kind"               "AssetKind" NOT NULL,
    "scale"              INTEGER NOT NULL,
    "expires_after_days" INTEGER,
    "created_at"         TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "assets_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "assets_defined_on_root" CHECK ("ledger_id" = "root_ledger_id"),
    CONSTRAINT "assets_scale_range" CHECK ("scale" BETWEEN 0 AND 18),
    CONSTRAINT "assets_expiry_positive" CHECK ("expires_after_days" IS NULL OR "expires_after_days" > 0)
);
CREATE INDEX "assets_id_idx" ON "assets"("id");
CREATE UNIQUE INDEX "assets_root_ledger_id_code_key" ON "assets"("root_ledger_id", "code");
ALTER TABLE "assets" ADD CONSTRAINT "assets_root_ledger_fkey"
    FOREIGN KEY ("root_ledger_id", "ledger_id") REFERENCES "ledgers"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

CREATE TABLE "accounts" (
    "id"              UUID NOT NULL,
    "root_ledger_id"  UUID NOT NULL,
    "ledger_id"       UUID NOT NULL,
    "code"            TEXT NOT NULL,
    "name"            TEXT NOT NULL,
    "normal_balance"  "NormalBalance" NOT NULL,
    "allow_overdraft" BOOLEAN NOT NULL DEFAULT false,
    "overdraft_limit" BIGINT,
    "status"          "AccountStatus" NOT NULL DEFAULT 'ACTIVE',
    "is_system"       BOOLEAN NOT NULL DEFAULT false,
    "metadata"        JSONB NOT NULL DEFAULT '{}',
    "created_at"      TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at"      TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "accounts_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "accounts_overdraft_shape" CHECK ("overdraft_limit" IS NULL OR ("allow_overdraft" AND "overdraft_limit" >= 0)),
    CONSTRAINT "accounts_metadata_object" CHECK (jsonb_typeof("metadata") = 'object')
);
CREATE INDEX "accounts_id_idx" ON "accounts"("id");
CREATE UNIQUE INDEX "accounts_root_ledger_id_ledger_id_code_key" ON "accounts"("root_ledger_id", "ledger_id", "code");
CREATE INDEX "accounts_root_ledger_id_ledger_id_id_idx" ON "accounts"("root_ledger_id", "ledger_id", "id");
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_ledger_fkey"
    FOREIGN KEY ("root_ledger_id", "ledger_id") REFERENCES "ledgers"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- One row per (account, asset, shard). Accounts with a balance constraint always use shard 0, so the
-- CHECK below sees their whole balance. Unconstrained hot accounts (system:issuance) may spread their
-- updates over several shards so concurrent postings do not queue on one row lock; readers sum shards.
CREATE TABLE "balances" (
    "root_ledger_id"  UUID NOT NULL,
    "account_id"      UUID NOT NULL,
    "asset_id"        UUID NOT NULL,
    "shard"           SMALLINT NOT NULL DEFAULT 0,
    -- Copied from the account (immutable there) so the database can check the constraint on every write.
    "ledger_id"       UUID NOT NULL,
    "normal_balance"  "NormalBalance" NOT NULL,
    -- The lowest `available` may reach; NULL means unbounded.
    "available_floor" BIGINT,
    "debits_posted"   BIGINT NOT NULL DEFAULT 0,
    "credits_posted"  BIGINT NOT NULL DEFAULT 0,
    "debits_pending"  BIGINT NOT NULL DEFAULT 0,
    "credits_pending" BIGINT NOT NULL DEFAULT 0,
    "version"         BIGINT NOT NULL DEFAULT 0,
    "updated_at"      TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "balances_pkey" PRIMARY KEY ("root_ledger_id", "account_id", "asset_id", "shard"),
    CONSTRAINT "balances_totals_non_negative" CHECK (
        "debits_posted" >= 0 AND "credits_posted" >= 0 AND "debits_pending" >= 0 AND "credits_pending" >= 0 AND "version" >= 0),
    CONSTRAINT "balances_shard_range" CHECK ("shard" BETWEEN 0 AND 63 AND ("available_floor" IS NULL OR "shard" = 0)),
    CONSTRAINT "balances_within_limit" CHECK (
        "available_floor" IS NULL OR
        (CASE "normal_balance"
            WHEN 'CREDIT' THEN "credits_posted" - "debits_posted" - "debits_pending"
            ELSE "debits_posted" - "credits_posted" - "credits_pending"
         END) >= "available_floor")
);
CREATE INDEX "balances_root_ledger_id_ledger_id_asset_id_idx" ON "balances"("root_ledger_id", "ledger_id", "asset_id");
ALTER TABLE "balances" ADD CONSTRAINT "balances_account_fkey"
    FOREIGN KEY ("root_ledger_id", "account_id") REFERENCES "accounts"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "balances" ADD CONSTRAINT "balances_asset_fkey"
    FOREIGN KEY ("root_ledger_id", "asset_id") REFERENCES "assets"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

CREATE TABLE "transactions" (
    "id"              UUID NOT NULL,
    "root_ledger_id"  UUID NOT NULL,
    "ledger_id"       UUID NOT NULL,
    "kind"            "TransactionKind" NOT NULL,
    "status"          "TransactionStatus" NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    -- sha256 of the canonical request: a replay with the same key must carry the same request.
    "request_hash"    TEXT NOT NULL,
    "description"     TEXT,
    "metadata"        JSONB NOT NULL DEFAULT '{}',
    "effective_at"    TIMESTAMPTZ(3) NOT NULL,
    "posted_at"       TIMESTAMPTZ(3) NOT NULL,
    "created_at"      TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "reversal_of_id"  UUID,
    CONSTRAINT "transactions_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "transactions_idempotency_key_length" CHECK (char_length("idempotency_key") BETWEEN 1 AND 255),
    CONSTRAINT "transactions_metadata_object" CHECK (jsonb_typeof("metadata") = 'object'),
    CONSTRAINT "transactions_reversal_shape" CHECK (("kind" = 'REVERSAL') = ("reversal_of_id" IS NOT NULL))
);
CREATE INDEX "transactions_id_idx" ON "transactions"("id");
CREATE UNIQUE INDEX "transactions_root_ledger_id_idempotency_key_key" ON "transactions"("root_ledger_id", "idempotency_key");
-- A transaction is reversed at most once.
CREATE UNIQUE INDEX "transactions_root_ledger_id_reversal_of_id_key" ON "transactions"("root_ledger_id", "reversal_of_id");
ALTER TABLE "transactions" ADD CONSTRAINT "transactions_ledger_fkey"
    FOREIGN KEY ("root_ledger_id", "ledger_id") REFERENCES "ledgers"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "transactions" ADD CONSTRAINT "transactions_reversal_of_fkey"
    FOREIGN KEY ("root_ledger_id", "reversal_of_id") REFERENCES "transactions"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

CREATE TABLE "entries" (
    "id"             UUID NOT NULL,
    "root_ledger_id" UUID NOT NULL,
    "transaction_id" UUID NOT NULL,
    "account_id"     UUID NOT NULL,
    -- The account's ledger, copied so subtree history is an index range rather than a join.
    "ledger_id"      UUID NOT NULL,
    "asset_id"       UUID NOT NULL,
    "direction"      "Direction" NOT NULL,
    "amount"         BIGINT NOT NULL,
    "effective_at"   TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "entries_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "entries_amount_positive" CHECK ("amount" > 0)
);
CREATE INDEX "entries_account_id_id_idx" ON "entries"("account_id", "id");
CREATE INDEX "entries_transaction_id_idx" ON "entries"("transaction_id");
CREATE INDEX "entries_ledger_id_transaction_id_idx" ON "entries"("ledger_id", "transaction_id");
ALTER TABLE "entries" ADD CONSTRAINT "entries_transaction_fkey"
    FOREIGN KEY ("root_ledger_id", "transaction_id") REFERENCES "transactions"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "entries" ADD CONSTRAINT "entries_account_fkey"
    FOREIGN KEY ("root_ledger_id", "account_id") REFERENCES "accounts"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "entries" ADD CONSTRAINT "entries_ledger_fkey"
    FOREIGN KEY ("root_ledger_id", "ledger_id") REFERENCES "ledgers"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "entries" ADD CONSTRAINT "entries_asset_fkey"
    FOREIGN KEY ("root_ledger_id", "asset_id") REFERENCES "assets"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- API keys are global (a Citus reference table): a key may be scoped to no tree at all.
CREATE TABLE "api_keys" (
    "id"                UUID NOT NULL,
    "name"              TEXT NOT NULL,
    "role"              "ApiKeyRole" NOT NULL,
    "root_ledger_id"    UUID,
    "ledger_id"         UUID,
    "secret_hash"       TEXT NOT NULL,
    "created_by_key_id" UUID,
    "created_at"        TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at"        TIMESTAMPTZ(3),
    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "api_keys_scope_shape" CHECK (("root_ledger_id" IS NULL) = ("ledger_id" IS NULL))
);
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_ledger_fkey"
    FOREIGN KEY ("root_ledger_id", "ledger_id") REFERENCES "ledgers"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

CREATE TABLE "audit_events" (
    "id"             UUID NOT NULL,
    "root_ledger_id" UUID,
    "actor_type"     TEXT NOT NULL,
    "actor_id"       TEXT NOT NULL,
    "operation"      TEXT NOT NULL,
    "target_ids"     UUID[] NOT NULL,
    "request_id"     TEXT,
    "client_address" TEXT,
    "created_at"     TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "audit_events_root_ledger_id_id_idx" ON "audit_events"("root_ledger_id", "id");

-- Append-only journal, enforced here as well as in the application.
CREATE FUNCTION "reject_journal_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only: % rejected', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER "entries_append_only" BEFORE UPDATE OR DELETE ON "entries"
    FOR EACH ROW EXECUTE FUNCTION "reject_journal_change"();
CREATE TRIGGER "entries_no_truncate" BEFORE TRUNCATE ON "entries"
    FOR EACH STATEMENT EXECUTE FUNCTION "reject_journal_change"();
CREATE TRIGGER "audit_events_append_only" BEFORE UPDATE OR DELETE ON "audit_events"
    FOR EACH ROW EXECUTE FUNCTION "reject_journal_change"();
CREATE TRIGGER "audit_events_no_truncate" BEFORE TRUNCATE ON "audit_events"
    FOR EACH STATEMENT EXECUTE FUNCTION "reject_journal_change"();
CREATE TRIGGER "transactions_no_delete" BEFORE DELETE ON "transactions"
    FOR EACH ROW EXECUTE FUNCTION "reject_journal_change"();
CREATE TRIGGER "transactions_no_truncate" BEFORE TRUNCATE ON "transactions"
    FOR EACH STATEMENT EXECUTE FUNCTION "reject_journal_change"();

-- A transaction row may only move PENDING -> POSTED or PENDING -> VOIDED; nothing else about it changes.
CREATE FUNCTION "guard_transaction_update"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD."status" <> 'PENDING' OR NEW."status" NOT IN ('POSTED', 'VOIDED')
       OR (to_jsonb(NEW) - 'status' - 'posted_at') IS DISTINCT FROM (to_jsonb(OLD) - 'status' - 'posted_at') THEN
        RAISE EXCEPTION 'transactions are immutable except PENDING -> POSTED/VOIDED' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER "transactions_status_only" BEFORE UPDATE ON "transactions"
    FOR EACH ROW EXECUTE FUNCTION "guard_transaction_update"();

-- Second guard for the posting rules: the entries written by one statement must form whole,
-- balanced transactions (at least two entries, debits = credits per asset).
CREATE FUNCTION "check_entries_balance"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM "new_entries"
        GROUP BY "transaction_id", "asset_id"
        HAVING sum(CASE "direction" WHEN 'DEBIT' THEN "amount" ELSE -"amount" END) <> 0
    ) OR EXISTS (
        SELECT 1 FROM "new_entries" GROUP BY "transaction_id" HAVING count(*) < 2
    ) THEN
        RAISE EXCEPTION 'unbalanced journal entries' USING ERRCODE = 'check_violation', CONSTRAINT = 'entries_balanced';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER "entries_balanced" AFTER INSERT ON "entries"
    REFERENCING NEW TABLE AS "new_entries"
    FOR EACH STATEMENT EXECUTE FUNCTION "check_entries_balance"();
