-- Reward lifecycle: holds (pending transactions), expiring lots, point-in-time checkpoints.

-- Entries of a pending transaction (a hold) count in the *_pending balance columns, never in *_posted.
-- Capturing a hold posts a new transaction; its own entries carry the posted effect.
ALTER TABLE "entries" ADD COLUMN "pending" BOOLEAN NOT NULL DEFAULT false;

-- When the scheduler voids a hold that was never settled.
ALTER TABLE "transactions" ADD COLUMN "timeout_at" TIMESTAMPTZ(3);
CREATE INDEX "transactions_pending_timeout_idx" ON "transactions"("timeout_at") WHERE "status" = 'PENDING';

-- A hold is settled at most once: the primary key is the hold itself.
CREATE TABLE "hold_settlements" (
    "root_ledger_id"            UUID NOT NULL,
    "pending_transaction_id"    UUID NOT NULL,
    "action"                    TEXT NOT NULL,
    "idempotency_key"           TEXT,
    "request_hash"              TEXT,
    -- The capture's own transaction (POST); null when the hold was released (VOID, TIMEOUT).
    "settlement_transaction_id" UUID,
    "captured_amount"           BIGINT,
    "created_at"                TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "hold_settlements_pkey" PRIMARY KEY ("root_ledger_id", "pending_transaction_id"),
    CONSTRAINT "hold_settlements_action" CHECK ("action" IN ('POST', 'VOID', 'TIMEOUT')),
    CONSTRAINT "hold_settlements_shape" CHECK (("action" = 'POST') = ("settlement_transaction_id" IS NOT NULL))
);
CREATE UNIQUE INDEX "hold_settlements_root_ledger_id_idempotency_key_key" ON "hold_settlements"("root_ledger_id", "idempotency_key");
CREATE INDEX "hold_settlements_pending_transaction_id_idx" ON "hold_settlements"("pending_transaction_id");
CREATE INDEX "hold_settlements_settlement_transaction_id_idx" ON "hold_settlements"("settlement_transaction_id");
ALTER TABLE "hold_settlements" ADD CONSTRAINT "hold_settlements_pending_fkey"
    FOREIGN KEY ("root_ledger_id", "pending_transaction_id") REFERENCES "transactions"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
-- Deferred: a capture claims the hold first and writes its own transaction row next, in one commit.
ALTER TABLE "hold_settlements" ADD CONSTRAINT "hold_settlements_settlement_fkey"
    FOREIGN KEY ("root_ledger_id", "settlement_transaction_id") REFERENCES "transactions"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT
    DEFERRABLE INITIALLY DEFERRED;
CREATE TRIGGER "hold_settlements_append_only" BEFORE UPDATE OR DELETE ON "hold_settlements"
    FOR EACH ROW EXECUTE FUNCTION "reject_journal_change"();

-- Value of an expiring asset credited to a customer account: spent first-expiring-first, expired when it lapses.
CREATE TABLE "lots" (
    "id"                    UUID NOT NULL,
    "root_ledger_id"        UUID NOT NULL,
    "account_id"            UUID NOT NULL,
    "asset_id"              UUID NOT NULL,
    "source_transaction_id" UUID NOT NULL,
    "amount"                BIGINT NOT NULL,
    "remaining"             BIGINT NOT NULL,
    "expires_at"            TIMESTAMPTZ(3),
    "created_at"            TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "lots_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "lots_amounts" CHECK ("amount" > 0 AND "remaining" >= 0 AND "remaining" <= "amount")
);
-- FIFO order: soonest expiry first, never-expiring last, then oldest.
CREATE INDEX "lots_open_fifo_idx" ON "lots"("account_id", "asset_id", "expires_at" ASC NULLS LAST, "id") WHERE "remaining" > 0;
CREATE INDEX "lots_root_ledger_id_expires_at_idx" ON "lots"("root_ledger_id", "expires_at") WHERE "remaining" > 0;
CREATE INDEX "lots_source_transaction_id_idx" ON "lots"("source_transaction_id");
ALTER TABLE "lots" ADD CONSTRAINT "lots_account_fkey"
    FOREIGN KEY ("root_ledger_id", "account_id") REFERENCES "accounts"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "lots" ADD CONSTRAINT "lots_asset_fkey"
    FOREIGN KEY ("root_ledger_id", "asset_id") REFERENCES "assets"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "lots" ADD CONSTRAINT "lots_source_transaction_fkey"
    FOREIGN KEY ("root_ledger_id", "source_transaction_id") REFERENCES "transactions"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- What each transaction took from (positive) or gave back to (negative, by a reversal) each lot, so a
-- reversal restores exactly what was consumed and `remaining = amount - sum(consumptions)` is checkable.
CREATE TABLE "lot_consumptions" (
    "id"             UUID NOT NULL,
    "root_ledger_id" UUID NOT NULL,
    "lot_id"         UUID NOT NULL,
    "transaction_id" UUID NOT NULL,
    "amount"         BIGINT NOT NULL,
    CONSTRAINT "lot_consumptions_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "lot_consumptions_amount_nonzero" CHECK ("amount" <> 0)
);
CREATE INDEX "lot_consumptions_transaction_id_idx" ON "lot_consumptions"("transaction_id");
CREATE INDEX "lot_consumptions_lot_id_idx" ON "lot_consumptions"("lot_id");
ALTER TABLE "lot_consumptions" ADD CONSTRAINT "lot_consumptions_lot_fkey"
    FOREIGN KEY ("root_ledger_id", "lot_id") REFERENCES "lots"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "lot_consumptions" ADD CONSTRAINT "lot_consumptions_transaction_fkey"
    FOREIGN KEY ("root_ledger_id", "transaction_id") REFERENCES "transactions"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
CREATE TRIGGER "lot_consumptions_append_only" BEFORE UPDATE OR DELETE ON "lot_consumptions"
    FOR EACH ROW EXECUTE FUNCTION "reject_journal_change"();

-- Point-in-time balances: an index range over one account's entries by effective time, read index-only,
-- plus checkpoints (posted totals at an instant) so a long history is summed from the nearest checkpoint.
CREATE INDEX "entries_account_id_asset_id_effective_at_idx" ON "entries"("account_id", "asset_id", "effective_at")
    INCLUDE ("direction", "amount", "pending");

CREATE TABLE "balance_checkpoints" (
    "root_ledger_id" UUID NOT NULL,
    "account_id"     UUID NOT NULL,
    "asset_id"       UUID NOT NULL,
    "as_of"          TIMESTAMPTZ(3) NOT NULL,
    "debits_posted"  BIGINT NOT NULL,
    "credits_posted" BIGINT NOT NULL,
    "created_at"     TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "balance_checkpoints_pkey" PRIMARY KEY ("root_ledger_id", "account_id", "asset_id", "as_of")
);
ALTER TABLE "balance_checkpoints" ADD CONSTRAINT "balance_checkpoints_account_fkey"
    FOREIGN KEY ("root_ledger_id", "account_id") REFERENCES "accounts"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "balance_checkpoints" ADD CONSTRAINT "balance_checkpoints_asset_fkey"
    FOREIGN KEY ("root_ledger_id", "asset_id") REFERENCES "assets"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- A hold: its entries are pending; it can be captured or released once, never reversed itself.
ALTER TABLE "transactions" ADD COLUMN "is_hold" BOOLEAN NOT NULL DEFAULT false;
