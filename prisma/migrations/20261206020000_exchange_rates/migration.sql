-- Exchange rates between two assets of one tree, and the system account conversions go through.
--
-- A rate is an exact fraction numerator/denominator of whole minor units: converting `amount` of the
-- from-asset credits floor(amount × numerator ÷ denominator) of the to-asset. Rates are never edited or
-- deleted: a new rate with a later valid_from replaces the one in force, so the history stays readable,
-- and each conversion also pins the rate it used in its transaction's metadata.

CREATE TABLE "exchange_rates" (
    "id"             UUID NOT NULL,
    "root_ledger_id" UUID NOT NULL,
    "ledger_id"      UUID NOT NULL,
    "from_asset_id"  UUID NOT NULL,
    "to_asset_id"    UUID NOT NULL,
    "numerator"      BIGINT NOT NULL,
    "denominator"    BIGINT NOT NULL,
    "valid_from"     TIMESTAMPTZ(3) NOT NULL,
    "created_at"     TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "exchange_rates_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "exchange_rates_positive" CHECK ("numerator" > 0 AND "denominator" > 0),
    CONSTRAINT "exchange_rates_two_assets" CHECK ("from_asset_id" <> "to_asset_id")
);
CREATE INDEX "exchange_rates_id_idx" ON "exchange_rates"("id");
-- The rate in force is the newest valid_from at or before the instant: one index range scan backwards.
CREATE UNIQUE INDEX "exchange_rates_pair_valid_from_key"
    ON "exchange_rates"("root_ledger_id", "from_asset_id", "to_asset_id", "valid_from");
ALTER TABLE "exchange_rates" ADD CONSTRAINT "exchange_rates_ledger_fkey"
    FOREIGN KEY ("root_ledger_id", "ledger_id") REFERENCES "ledgers"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "exchange_rates" ADD CONSTRAINT "exchange_rates_from_asset_fkey"
    FOREIGN KEY ("root_ledger_id", "from_asset_id") REFERENCES "assets"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "exchange_rates" ADD CONSTRAINT "exchange_rates_to_asset_fkey"
    FOREIGN KEY ("root_ledger_id", "to_asset_id") REFERENCES "assets"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
CREATE TRIGGER "exchange_rates_append_only" BEFORE UPDATE OR DELETE ON "exchange_rates"
    FOR EACH ROW EXECUTE FUNCTION "reject_journal_change"();

-- Roots created before this migration get the conversion account new roots are created with. Its id is
-- a random UUID rather than the application's UUIDv7: ids are opaque, only their uniqueness matters.
INSERT INTO "accounts" ("id", "root_ledger_id", "ledger_id", "code", "name", "normal_balance",
                        "allow_overdraft", "overdraft_limit", "is_system")
SELECT gen_random_uuid(), l."id", l."id", 'system:conversion', 'system:conversion', 'CREDIT', true, NULL, true
FROM "ledgers" l
WHERE l."parent_id" IS NULL
ON CONFLICT ("root_ledger_id", "ledger_id", "code") DO NOTHING;
