-- Reconciliation runs, resolutions and continuous matching: what the first reconciliation migration left
-- to the code that runs them.
--
-- A run counts ambiguous records besides the other kinds (one record that could match several
-- transactions), and later runs skip what a resolution has settled, which is found by these indexes.

ALTER TABLE "reconciliation_runs" ADD COLUMN "ambiguous" INTEGER NOT NULL DEFAULT 0;

CREATE INDEX "reconciliation_exceptions_settled_transaction_idx"
    ON "reconciliation_exceptions" ("root_ledger_id", "source_id", "transaction_id")
    WHERE "status" = 'RESOLVED' AND "transaction_id" IS NOT NULL;
CREATE INDEX "reconciliation_exceptions_resolution_transaction_idx"
    ON "reconciliation_exceptions" ("root_ledger_id", "source_id", "resolution_transaction_id")
    WHERE "resolution_transaction_id" IS NOT NULL;

-- Continuous matching. A continuous source has one cursor row: its position in the durable event feed
-- (postings as they commit, read in (xid, id) order below the commit watermark), locked FOR UPDATE SKIP
-- LOCKED by whichever instance's matcher takes it, so several instances do the work once. Created by
-- the matcher itself the first time it sees the source, at the feed's head then: postings committed
-- before that are found from the records' side.
CREATE TABLE "reconciliation_continuous_cursors" (
    "root_ledger_id" UUID NOT NULL,
    "source_id"      UUID NOT NULL,
    "feed_xid"       BIGINT NOT NULL,
    "feed_id"        BIGINT NOT NULL,
    "updated_at"     TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "reconciliation_continuous_cursors_pkey" PRIMARY KEY ("root_ledger_id", "source_id")
);
ALTER TABLE "reconciliation_continuous_cursors" ADD CONSTRAINT "reconciliation_continuous_cursors_source_fkey"
    FOREIGN KEY ("root_ledger_id", "source_id") REFERENCES "reconciliation_sources"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- Records of continuous sources waiting for the matcher: written by a trigger in the importing
-- transaction, so a record is queued if and only if it committed, whichever path imported it; the
-- matcher deletes what it has looked at in the transaction that matches it.
CREATE TABLE "reconciliation_pending_records" (
    "root_ledger_id" UUID NOT NULL,
    "source_id"      UUID NOT NULL,
    "record_id"      UUID NOT NULL,
    CONSTRAINT "reconciliation_pending_records_pkey" PRIMARY KEY ("root_ledger_id", "source_id", "record_id")
);

CREATE FUNCTION "reconciliation_records_queue_continuous"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "reconciliation_pending_records" ("root_ledger_id", "source_id", "record_id")
    SELECT n."root_ledger_id", n."source_id", n."id"
      FROM "new_records" n
      JOIN "reconciliation_sources" s ON s."root_ledger_id" = n."root_ledger_id" AND s."id" = n."source_id"
     WHERE s."continuous" AND n."is_current"
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER "reconciliation_records_queue_continuous" AFTER INSERT ON "reconciliation_records"
    REFERENCING NEW TABLE AS "new_records"
    FOR EACH STATEMENT EXECUTE FUNCTION "reconciliation_records_queue_continuous"();

-- The account and asset an exception is about (the ledger line compared, or the record's), so a
-- resolution knows which account an adjustment corrects without recomputing the run.
ALTER TABLE "reconciliation_exceptions" ADD COLUMN "account_id" UUID;
ALTER TABLE "reconciliation_exceptions" ADD COLUMN "asset_id" UUID;

-- Exception ids of one run: the application's UUIDv7 for the run's exceptions with its last 48 bits
-- replaced by the exception's number in report order, so a run's exceptions page in that order.
CREATE FUNCTION "reconciliation_exception_id"(p_base uuid, p_n int8) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT (left(p_base::text, 24) || lpad(to_hex(p_n), 12, '0'))::uuid
$$;

-- A run's matched pairs are written by the run itself, in the transaction that completes its row; the
-- foreign key to the run cost a trigger call per pair (about half the time of writing them: 100,000
-- pairs a run), and guards nothing another writer could break, so it goes. Pairs still name their run in
-- their primary key, and a run is never deleted.
ALTER TABLE "reconciliation_run_matches" DROP CONSTRAINT "reconciliation_run_matches_run_fkey";

-- A COMMIT run (and the continuous matcher) moves every record it matches to status MATCHED. No index
-- covers status, so with room left on each page the update is HOT (no index entry rewritten): measured at
-- about a quarter of the cost of the same update on full pages, at 15% more space for the records.
ALTER TABLE "reconciliation_records" SET (fillfactor = 85);
