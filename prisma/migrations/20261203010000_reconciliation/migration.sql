-- Reconciliation: external sources, their versioned match rules, imported records (every version kept),
-- runs pinned to what they saw, the matches between records and ledger transactions, and exceptions.
--
-- Like every tenant table, each carries root_ledger_id first in its keys (Citus distribution column).
-- Amounts are int8 minor units, never a float. The rule that a ledger transaction is matched to at most one
-- record of a source, across every run, is the unique key reconciliation_matches_source_transaction_key:
-- two COMMIT runs racing cannot both claim a transaction, whatever the application does.

CREATE TYPE "ReconciliationRunMode" AS ENUM ('DRY_RUN', 'COMMIT');
CREATE TYPE "ReconciliationRunStatus" AS ENUM ('RUNNING', 'COMPLETED', 'FAILED');
CREATE TYPE "ReconciliationExceptionKind" AS ENUM
    ('MISSING_IN_LEDGER', 'MISSING_EXTERNALLY', 'AMOUNT_MISMATCH', 'DUPLICATE_EXTERNAL', 'AMBIGUOUS');
CREATE TYPE "ReconciliationExceptionStatus" AS ENUM ('OPEN', 'RESOLVED');
CREATE TYPE "ReconciliationResolution" AS ENUM ('POST_ADJUSTMENT', 'MATCH_MANUALLY', 'EXPLAIN');
-- How a match came to be: a rule in a run, the continuous matcher, an operator, a posted adjustment, or an
-- exclusion (an explained exception takes its record or its transaction out of later runs).
CREATE TYPE "ReconciliationMatchKind" AS ENUM ('RULE', 'CONTINUOUS', 'MANUAL', 'ADJUSTMENT', 'EXCLUDED');

CREATE TABLE "reconciliation_sources" (
    "id"             UUID NOT NULL,
    "root_ledger_id" UUID NOT NULL,
    "ledger_id"      UUID NOT NULL,
    "code"           TEXT NOT NULL,
    "name"           TEXT NOT NULL,
    "continuous"     BOOLEAN NOT NULL DEFAULT false,
    -- The continuous matcher's durable cursor over the journal (posted_at of the last transaction it
    -- considered); it re-reads from a little before it after a restart, so nothing committed late is lost.
    "journal_high_water" TIMESTAMPTZ(3),
    "created_at"     TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "reconciliation_sources_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "reconciliation_sources_code_length" CHECK (char_length("code") BETWEEN 1 AND 64),
    CONSTRAINT "reconciliation_sources_name_length" CHECK (char_length("name") BETWEEN 1 AND 200)
);
CREATE INDEX "reconciliation_sources_id_idx" ON "reconciliation_sources"("id");
CREATE UNIQUE INDEX "reconciliation_sources_ledger_code_key"
    ON "reconciliation_sources"("root_ledger_id", "ledger_id", "code");
ALTER TABLE "reconciliation_sources" ADD CONSTRAINT "reconciliation_sources_ledger_fkey"
    FOREIGN KEY ("root_ledger_id", "ledger_id") REFERENCES "ledgers"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- Rules are versioned: a new rule at a priority a rule already holds supersedes it (version + 1); the old
-- row stays, so a run that names (rule id, version) can be read back exactly.
CREATE TABLE "reconciliation_rules" (
    "id"                  UUID NOT NULL,
    "root_ledger_id"      UUID NOT NULL,
    "source_id"           UUID NOT NULL,
    "priority"            INTEGER NOT NULL,
    "version"             INTEGER NOT NULL,
    "reference_field"     TEXT NOT NULL,
    "match_account"       BOOLEAN NOT NULL,
    "amount_tolerance"    BIGINT NOT NULL,
    "date_window_seconds" INTEGER NOT NULL,
    "superseded_at"       TIMESTAMPTZ(3),
    "created_at"          TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "reconciliation_rules_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "reconciliation_rules_version_positive" CHECK ("version" >= 1),
    CONSTRAINT "reconciliation_rules_reference_field_shape"
        CHECK ("reference_field" = 'idempotencyKey' OR "reference_field" ~ '^metadata\.[A-Za-z0-9_.:-]{1,64}$'),
    CONSTRAINT "reconciliation_rules_tolerance_non_negative" CHECK ("amount_tolerance" >= 0),
    CONSTRAINT "reconciliation_rules_window_range" CHECK ("date_window_seconds" BETWEEN 0 AND 31622400)
);
CREATE INDEX "reconciliation_rules_id_idx" ON "reconciliation_rules"("id");
CREATE UNIQUE INDEX "reconciliation_rules_source_priority_version_key"
    ON "reconciliation_rules"("root_ledger_id", "source_id", "priority", "version");
-- At most one live rule per priority.
CREATE UNIQUE INDEX "reconciliation_rules_live_priority_key"
    ON "reconciliation_rules"("root_ledger_id", "source_id", "priority") WHERE "superseded_at" IS NULL;
ALTER TABLE "reconciliation_rules" ADD CONSTRAINT "reconciliation_rules_source_fkey"
    FOREIGN KEY ("root_ledger_id", "source_id") REFERENCES "reconciliation_sources"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- One import call (GraphQL or streamed HTTP), idempotent by (source, key): a replay answers its result.
CREATE TABLE "reconciliation_imports" (
    "id"              UUID NOT NULL,
    "root_ledger_id"  UUID NOT NULL,
    "source_id"       UUID NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "request_hash"    TEXT NOT NULL,
    "inserted"        INTEGER NOT NULL DEFAULT 0,
    "updated"         INTEGER NOT NULL DEFAULT 0,
    "unchanged"       INTEGER NOT NULL DEFAULT 0,
    -- [{ "line", "externalId", "message" }], bounded by the import's row limit.
    "rejected"        JSONB NOT NULL DEFAULT '[]',
    "created_at"      TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "reconciliation_imports_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "reconciliation_imports_key_length" CHECK (char_length("idempotency_key") BETWEEN 1 AND 255),
    CONSTRAINT "reconciliation_imports_counts" CHECK ("inserted" >= 0 AND "updated" >= 0 AND "unchanged" >= 0),
    CONSTRAINT "reconciliation_imports_rejected_array" CHECK (jsonb_typeof("rejected") = 'array')
);
CREATE UNIQUE INDEX "reconciliation_imports_source_key_key"
    ON "reconciliation_imports"("root_ledger_id", "source_id", "idempotency_key");
ALTER TABLE "reconciliation_imports" ADD CONSTRAINT "reconciliation_imports_source_fkey"
    FOREIGN KEY ("root_ledger_id", "source_id") REFERENCES "reconciliation_sources"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- Every version of every record. Same external id and content hash: unchanged (no row). Other content: a
-- new row with version + 1; the previous row stays, with is_current false.
CREATE TABLE "reconciliation_records" (
    "id"             UUID NOT NULL,
    "root_ledger_id" UUID NOT NULL,
    "source_id"      UUID NOT NULL,
    "external_id"    TEXT NOT NULL,
    "version"        INTEGER NOT NULL,
    "is_current"     BOOLEAN NOT NULL DEFAULT true,
    "asset_id"       UUID NOT NULL,
    "amount"         BIGINT NOT NULL,
    "direction"      "Direction" NOT NULL,
    "occurred_at"    TIMESTAMPTZ(3) NOT NULL,
    "reference"      TEXT,
    "account_code"   TEXT,
    "metadata"       JSONB NOT NULL DEFAULT '{}',
    -- sha256 of the canonical content (asset, amount, direction, occurredAt, reference, accountCode, metadata).
    "content_hash"   TEXT NOT NULL,
    "import_id"      UUID NOT NULL,
    -- Arrival order: a run records the highest it saw, so a re-run over the same inputs sees the same rows.
    "seq"            BIGSERIAL NOT NULL,
    "created_at"     TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "reconciliation_records_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "reconciliation_records_external_id_length" CHECK (char_length("external_id") BETWEEN 1 AND 255),
    CONSTRAINT "reconciliation_records_version_positive" CHECK ("version" >= 1),
    CONSTRAINT "reconciliation_records_amount_positive" CHECK ("amount" > 0),
    CONSTRAINT "reconciliation_records_reference_length" CHECK ("reference" IS NULL OR char_length("reference") <= 255),
    CONSTRAINT "reconciliation_records_account_code_length" CHECK ("account_code" IS NULL OR char_length("account_code") <= 255),
    CONSTRAINT "reconciliation_records_metadata_object" CHECK (jsonb_typeof("metadata") = 'object')
);
CREATE INDEX "reconciliation_records_id_idx" ON "reconciliation_records"("id");
CREATE UNIQUE INDEX "reconciliation_records_version_key"
    ON "reconciliation_records"("root_ledger_id", "source_id", "external_id", "version");
-- One current version per external id.
CREATE UNIQUE INDEX "reconciliation_records_current_key"
    ON "reconciliation_records"("root_ledger_id", "source_id", "external_id") WHERE "is_current";
CREATE INDEX "reconciliation_records_current_occurred_idx"
    ON "reconciliation_records"("root_ledger_id", "source_id", "occurred_at") WHERE "is_current";
CREATE INDEX "reconciliation_records_current_reference_idx"
    ON "reconciliation_records"("root_ledger_id", "source_id", "reference") WHERE "is_current";
ALTER TABLE "reconciliation_records" ADD CONSTRAINT "reconciliation_records_source_fkey"
    FOREIGN KEY ("root_ledger_id", "source_id") REFERENCES "reconciliation_sources"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "reconciliation_records" ADD CONSTRAINT "reconciliation_records_asset_fkey"
    FOREIGN KEY ("root_ledger_id", "asset_id") REFERENCES "assets"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "reconciliation_records" ADD CONSTRAINT "reconciliation_records_import_fkey"
    FOREIGN KEY ("root_ledger_id", "import_id") REFERENCES "reconciliation_imports"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
-- Only is_current may change on a record version; content is immutable and versions are never deleted.
CREATE FUNCTION "reconciliation_records_retire_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'reconciliation_records rows are kept: DELETE rejected' USING ERRCODE = 'restrict_violation';
    END IF;
    IF (to_jsonb(NEW) - 'is_current') IS DISTINCT FROM (to_jsonb(OLD) - 'is_current') OR (NEW.is_current AND NOT OLD.is_current) THEN
        RAISE EXCEPTION 'reconciliation_records: only retiring a version (is_current true -> false) is allowed'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER "reconciliation_records_retire_only" BEFORE UPDATE OR DELETE ON "reconciliation_records"
    FOR EACH ROW EXECUTE FUNCTION "reconciliation_records_retire_only"();

-- A run pins what it saw: its window, the rules (id and version) it applied, the journal's high-water mark
-- (posted_at) and the records' (seq). Idempotent by (source, key).
CREATE TABLE "reconciliation_runs" (
    "id"                 UUID NOT NULL,
    "root_ledger_id"     UUID NOT NULL,
    "source_id"          UUID NOT NULL,
    "mode"               "ReconciliationRunMode" NOT NULL,
    "status"             "ReconciliationRunStatus" NOT NULL DEFAULT 'RUNNING',
    "idempotency_key"    TEXT NOT NULL,
    "request_hash"       TEXT NOT NULL,
    "window_from"        TIMESTAMPTZ(3) NOT NULL,
    "window_to"          TIMESTAMPTZ(3) NOT NULL,
    -- [{ "id", "version", "priority" }] in the order applied.
    "rule_versions"      JSONB NOT NULL DEFAULT '[]',
    "journal_high_water" TIMESTAMPTZ(3) NOT NULL,
    "records_high_water" BIGINT NOT NULL,
    -- { externalRecords, ledgerTransactions, matched, missingInLedger, missingExternally, amountMismatch,
    --   duplicates, ambiguous, newMatches } once completed.
    "summary"            JSONB NOT NULL DEFAULT '{}',
    "error"              TEXT,
    "started_at"         TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at"        TIMESTAMPTZ(3),
    CONSTRAINT "reconciliation_runs_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "reconciliation_runs_window_order" CHECK ("window_from" <= "window_to"),
    CONSTRAINT "reconciliation_runs_key_length" CHECK (char_length("idempotency_key") BETWEEN 1 AND 255),
    CONSTRAINT "reconciliation_runs_finished_shape" CHECK (("status" = 'RUNNING') = ("finished_at" IS NULL)),
    CONSTRAINT "reconciliation_runs_summary_object" CHECK (jsonb_typeof("summary") = 'object'),
    CONSTRAINT "reconciliation_runs_rules_array" CHECK (jsonb_typeof("rule_versions") = 'array')
);
CREATE INDEX "reconciliation_runs_id_idx" ON "reconciliation_runs"("id");
CREATE UNIQUE INDEX "reconciliation_runs_source_key_key"
    ON "reconciliation_runs"("root_ledger_id", "source_id", "idempotency_key");
CREATE INDEX "reconciliation_runs_source_id_idx" ON "reconciliation_runs"("root_ledger_id", "source_id", "id");
ALTER TABLE "reconciliation_runs" ADD CONSTRAINT "reconciliation_runs_source_fkey"
    FOREIGN KEY ("root_ledger_id", "source_id") REFERENCES "reconciliation_sources"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- Exceptions: each disagreement a run found, with both amounts and their difference. A COMMIT run adopts
-- the OPEN exception an earlier COMMIT run opened for the same subject instead of opening a second one
-- (the partial unique key), so commit-then-commit opens nothing new. A DRY_RUN's exceptions are a preview
-- that cannot be resolved.
CREATE TABLE "reconciliation_exceptions" (
    "id"                         UUID NOT NULL,
    "root_ledger_id"             UUID NOT NULL,
    "source_id"                  UUID NOT NULL,
    "run_id"                     UUID NOT NULL,
    "dry_run"                    BOOLEAN NOT NULL,
    "kind"                       "ReconciliationExceptionKind" NOT NULL,
    "status"                     "ReconciliationExceptionStatus" NOT NULL DEFAULT 'OPEN',
    -- 'R:' || external id, or 'T:' || transaction id: what the exception is about.
    "subject"                    TEXT NOT NULL,
    "external_id"                TEXT,
    "record_id"                  UUID,
    "transaction_id"             UUID,
    "account_id"                 UUID,
    "asset_id"                   UUID,
    "expected_amount"            BIGINT,
    "ledger_amount"              BIGINT,
    "difference"                 BIGINT,
    "resolution"                 "ReconciliationResolution",
    "resolution_idempotency_key" TEXT,
    "resolution_request_hash"    TEXT,
    "resolution_transaction_id"  UUID,
    "note"                       TEXT,
    "resolved_at"                TIMESTAMPTZ(3),
    "created_at"                 TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "reconciliation_exceptions_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "reconciliation_exceptions_subject_shape" CHECK ("record_id" IS NOT NULL OR "transaction_id" IS NOT NULL),
    CONSTRAINT "reconciliation_exceptions_resolved_shape" CHECK (
        ("status" = 'RESOLVED') = ("resolution" IS NOT NULL AND "resolved_at" IS NOT NULL AND "resolution_idempotency_key" IS NOT NULL)),
    CONSTRAINT "reconciliation_exceptions_preview_open" CHECK (NOT "dry_run" OR "status" = 'OPEN'),
    CONSTRAINT "reconciliation_exceptions_note_length" CHECK ("note" IS NULL OR char_length("note") BETWEEN 1 AND 2000)
);
CREATE INDEX "reconciliation_exceptions_id_idx" ON "reconciliation_exceptions"("id");
CREATE UNIQUE INDEX "reconciliation_exceptions_open_subject_key"
    ON "reconciliation_exceptions"("root_ledger_id", "source_id", "kind", "subject") WHERE "status" = 'OPEN' AND NOT "dry_run";
CREATE UNIQUE INDEX "reconciliation_exceptions_resolution_key_key"
    ON "reconciliation_exceptions"("root_ledger_id", "source_id", "resolution_idempotency_key");
ALTER TABLE "reconciliation_exceptions" ADD CONSTRAINT "reconciliation_exceptions_run_fkey"
    FOREIGN KEY ("root_ledger_id", "run_id") REFERENCES "reconciliation_runs"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "reconciliation_exceptions" ADD CONSTRAINT "reconciliation_exceptions_source_fkey"
    FOREIGN KEY ("root_ledger_id", "source_id") REFERENCES "reconciliation_sources"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "reconciliation_exceptions" ADD CONSTRAINT "reconciliation_exceptions_record_fkey"
    FOREIGN KEY ("root_ledger_id", "record_id") REFERENCES "reconciliation_records"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "reconciliation_exceptions" ADD CONSTRAINT "reconciliation_exceptions_transaction_fkey"
    FOREIGN KEY ("root_ledger_id", "transaction_id") REFERENCES "transactions"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "reconciliation_exceptions" ADD CONSTRAINT "reconciliation_exceptions_resolution_transaction_fkey"
    FOREIGN KEY ("root_ledger_id", "resolution_transaction_id") REFERENCES "transactions"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- What a run reported, row by row (both modes): every record and every ledger transaction it saw lands in
-- exactly one row, matched or not. The CSV report and the summary are read from here.
CREATE TABLE "reconciliation_run_items" (
    "root_ledger_id"  UUID NOT NULL,
    "run_id"          UUID NOT NULL,
    "item"            INTEGER NOT NULL,
    -- MATCHED, or an exception kind.
    "outcome"         TEXT NOT NULL,
    "rule_id"         UUID,
    "external_id"     TEXT,
    "record_id"       UUID,
    "transaction_id"  UUID,
    "account_id"      UUID,
    "asset_id"        UUID,
    "expected_amount" BIGINT,
    "ledger_amount"   BIGINT,
    "exception_id"    UUID,
    -- Matched by an earlier run (or continuously) rather than by this one.
    "earlier_match"   BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT "reconciliation_run_items_pkey" PRIMARY KEY ("root_ledger_id", "run_id", "item"),
    CONSTRAINT "reconciliation_run_items_outcome" CHECK ("outcome" IN
        ('MATCHED', 'MISSING_IN_LEDGER', 'MISSING_EXTERNALLY', 'AMOUNT_MISMATCH', 'DUPLICATE_EXTERNAL', 'AMBIGUOUS')),
    CONSTRAINT "reconciliation_run_items_subject" CHECK ("record_id" IS NOT NULL OR "transaction_id" IS NOT NULL)
);
ALTER TABLE "reconciliation_run_items" ADD CONSTRAINT "reconciliation_run_items_run_fkey"
    FOREIGN KEY ("root_ledger_id", "run_id") REFERENCES "reconciliation_runs"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- Matches of logical records (source, external id) to ledger transactions. A transaction is matched to at
-- most one record of a source, and a record to at most one transaction, across every run: two unique keys.
-- An EXCLUDED row takes one side out of later runs (an explained exception) and has no other side.
CREATE TABLE "reconciliation_matches" (
    "id"             UUID NOT NULL,
    "root_ledger_id" UUID NOT NULL,
    "source_id"      UUID NOT NULL,
    "kind"           "ReconciliationMatchKind" NOT NULL,
    "external_id"    TEXT,
    "record_id"      UUID,
    "transaction_id" UUID,
    "account_id"     UUID,
    -- The amounts agreed within the rule's tolerance; false for a pair linked with an AMOUNT_MISMATCH.
    "amount_agrees"  BOOLEAN NOT NULL DEFAULT true,
    "run_id"         UUID,
    "rule_id"        UUID,
    "exception_id"   UUID,
    "created_at"     TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "reconciliation_matches_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "reconciliation_matches_shape" CHECK (
        ("kind" = 'EXCLUDED' AND (("external_id" IS NULL) <> ("transaction_id" IS NULL)))
        OR ("kind" <> 'EXCLUDED' AND "external_id" IS NOT NULL AND "record_id" IS NOT NULL AND "transaction_id" IS NOT NULL)),
    CONSTRAINT "reconciliation_matches_record_side" CHECK (("external_id" IS NULL) = ("record_id" IS NULL))
);
CREATE INDEX "reconciliation_matches_id_idx" ON "reconciliation_matches"("id");
CREATE UNIQUE INDEX "reconciliation_matches_source_transaction_key"
    ON "reconciliation_matches"("root_ledger_id", "source_id", "transaction_id");
CREATE UNIQUE INDEX "reconciliation_matches_source_record_key"
    ON "reconciliation_matches"("root_ledger_id", "source_id", "external_id");
ALTER TABLE "reconciliation_matches" ADD CONSTRAINT "reconciliation_matches_source_fkey"
    FOREIGN KEY ("root_ledger_id", "source_id") REFERENCES "reconciliation_sources"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "reconciliation_matches" ADD CONSTRAINT "reconciliation_matches_record_fkey"
    FOREIGN KEY ("root_ledger_id", "record_id") REFERENCES "reconciliation_records"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "reconciliation_matches" ADD CONSTRAINT "reconciliation_matches_transaction_fkey"
    FOREIGN KEY ("root_ledger_id", "transaction_id") REFERENCES "transactions"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "reconciliation_matches" ADD CONSTRAINT "reconciliation_matches_run_fkey"
    FOREIGN KEY ("root_ledger_id", "run_id") REFERENCES "reconciliation_runs"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
