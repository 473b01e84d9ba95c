-- Expiry policies: how long value of an asset lasts once it is earned.
--
--   ROLLING        each lot lapses expires_after_days after it was earned (the only policy before this);
--   END_OF_PERIOD  each lot lapses at the end of the expiry_periods-th calendar period (expiry_period) after
--                  the one it was earned in, in expiry_time_zone ("earned in 2026, lapses at the end of
--                  2027, Manila time");
--   INACTIVITY     every open lot of a balance lapses expires_after_days after the balance's last activity;
--                  each activity moves them all (the posting path rewrites lots.expires_at).
--
-- The server computes each lot's expires_at from the policy when it opens the lot, so the expiry run,
-- `expiring` and `Account.lots` keep reading lots.expires_at alone. Assets stay immutable.

ALTER TABLE "assets"
    ADD COLUMN "expiry_kind"      TEXT,
    ADD COLUMN "expiry_period"    TEXT,
    ADD COLUMN "expiry_periods"   INTEGER,
    ADD COLUMN "expiry_time_zone" TEXT;

-- Existing expiring assets keep theirs.
UPDATE "assets" SET "expiry_kind" = 'ROLLING' WHERE "expires_after_days" IS NOT NULL;

-- A server of the previous release writes only expires_after_days: that is a rolling policy, so an asset
-- it creates during a rolling upgrade still expires the way it asked.
CREATE FUNCTION "assets_default_expiry_kind"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW."expiry_kind" IS NULL AND NEW."expires_after_days" IS NOT NULL THEN
        NEW."expiry_kind" := 'ROLLING';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER "assets_default_expiry_kind" BEFORE INSERT ON "assets"
    FOR EACH ROW EXECUTE FUNCTION "assets_default_expiry_kind"();

ALTER TABLE "assets" ADD CONSTRAINT "assets_expiry_policy_shape" CHECK (
    ("expiry_kind" IS NULL
        AND "expires_after_days" IS NULL AND "expiry_period" IS NULL AND "expiry_periods" IS NULL AND "expiry_time_zone" IS NULL)
    OR ("expiry_kind" IN ('ROLLING', 'INACTIVITY')
        AND "expires_after_days" IS NOT NULL AND "expiry_period" IS NULL AND "expiry_periods" IS NULL AND "expiry_time_zone" IS NULL)
    OR ("expiry_kind" = 'END_OF_PERIOD'
        AND "expires_after_days" IS NULL
        AND "expiry_period" IN ('DAY', 'WEEK', 'MONTH', 'YEAR')
        AND "expiry_periods" BETWEEN 0 AND 1200
        AND char_length("expiry_time_zone") BETWEEN 1 AND 64)
);
