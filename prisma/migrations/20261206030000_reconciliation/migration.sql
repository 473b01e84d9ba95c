-- Reconciliation: external sources, their versioned records and rules, runs, matches and exceptions.
--
-- A source watches one ledger subtree. Its records are imported (GraphQL or the streamed HTTP import) and
-- keyed by (source, external_id, version): the same content again changes nothing, other content adds
-- version + 1 and moves `is_current` to it, so what a run saw is never overwritten.
--
-- Exclusive matching is the database's job: reconciliation_matches has one row per (source, transaction)
-- and one per record, so two COMMIT runs racing (or a run and the continuous matcher) cannot match a
-- transaction twice — the loser's insert conflicts. A DRY_RUN writes only reconciliation_run_matches (its
-- report) and exceptions, never reconciliation_matches.
--
-- Like every tenant table, each carries root_ledger_id in its keys (DESIGN.md: distributable by tree), with a
-- plain index on id for lookups by id. Assets are never deleted, so records name theirs without a foreign
-- key (the import validates it by join; the check per row is measurable at import rates).

CREATE TABLE "reconciliation_sources" (
    "id"             UUID NOT NULL,
    "root_ledger_id" UUID NOT NULL,
    "ledger_id"      UUID NOT NULL,
    "code"           TEXT NOT NULL,
    "name"           TEXT NOT NULL,
    -- Continuous sources are matched as records arrive and postings commit, without a run.
    "continuous"     BOOLEAN NOT NULL DEFAULT false,
    -- Bumped by every rule change: a run records the version it matched with.
    "rules_version"  INTEGER NOT NULL DEFAULT 0,
    "created_at"     TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "reconciliation_sources_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "reconciliation_sources_code_length" CHECK (char_length("code") BETWEEN 1 AND 64),
    CONSTRAINT "reconciliation_sources_name_length" CHECK (char_length("name") BETWEEN 1 AND 200)
);
CREATE INDEX "reconciliation_sources_id_idx" ON "reconciliation_sources" ("id");
CREATE UNIQUE INDEX "reconciliation_sources_code_key" ON "reconciliation_sources" ("root_ledger_id", "code");
CREATE INDEX "reconciliation_sources_ledger_idx" ON "reconciliation_sources" ("root_ledger_id", "ledger_id", "id");
ALTER TABLE "reconciliation_sources" ADD CONSTRAINT "reconciliation_sources_ledger_fkey"
    FOREIGN KEY ("root_ledger_id", "ledger_id") REFERENCES "ledgers"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- Rules are immutable: a rule is created at a version of its source and retired (retired_at) when a later
-- change replaces it, so a run can name exactly the rules it used.
CREATE TABLE "reconciliation_rules" (
    "id"                  UUID NOT NULL,
    "root_ledger_id"      UUID NOT NULL,
    "source_id"           UUID NOT NULL,
    "priority"            INTEGER NOT NULL,
    -- 'idempotencyKey' or 'metadata.<key>': what a record's reference must equal on the transaction.
    "reference_field"     TEXT NOT NULL,
    "match_account"       BOOLEAN NOT NULL,
    -- Inclusive, in the asset's minor units.
    "amount_tolerance"    BIGINT NOT NULL,
    "date_window_seconds" INTEGER NOT NULL,
    "version"             INTEGER NOT NULL,
    "retired_at"          TIMESTAMPTZ(3),
    "created_at"          TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "reconciliation_rules_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "reconciliation_rules_reference_field" CHECK (
        "reference_field" = 'idempotencyKey' OR "reference_field" ~ '^metadata\.[A-Za-z0-9_\-]{1,64}$'),
    CONSTRAINT "reconciliation_rules_tolerance" CHECK ("amount_tolerance" >= 0),
    CONSTRAINT "reconciliation_rules_window" CHECK ("date_window_seconds" BETWEEN 0 AND 31622400)
);
CREATE INDEX "reconciliation_rules_id_idx" ON "reconciliation_rules" ("id");
CREATE INDEX "reconciliation_rules_source_idx" ON "reconciliation_rules" ("root_ledger_id", "source_id", "priority");
ALTER TABLE "reconciliation_rules" ADD CONSTRAINT "reconciliation_rules_source_fkey"
    FOREIGN KEY ("root_ledger_id", "source_id") REFERENCES "reconciliation_sources"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- One import call (GraphQL or HTTP), idempotent by key: a repeated key with the same body answers the stored
-- result; rejections beyond the first 1,000 are counted, not kept.
CREATE TABLE "reconciliation_imports" (
    "id"              UUID NOT NULL,
    "root_ledger_id"  UUID NOT NULL,
    "source_id"       UUID NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "request_hash"    TEXT NOT NULL,
    "inserted"        INTEGER NOT NULL DEFAULT 0,
    "updated"         INTEGER NOT NULL DEFAULT 0,
    "unchanged"       INTEGER NOT NULL DEFAULT 0,
    "rejected_count"  INTEGER NOT NULL DEFAULT 0,
    "rejections"      JSONB NOT NULL DEFAULT '[]',
    "created_at"      TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "reconciliation_imports_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "reconciliation_imports_key_length" CHECK (char_length("idempotency_key") BETWEEN 1 AND 255)
);
CREATE INDEX "reconciliation_imports_id_idx" ON "reconciliation_imports" ("id");
CREATE UNIQUE INDEX "reconciliation_imports_key" ON "reconciliation_imports" ("root_ledger_id", "source_id", "idempotency_key");
ALTER TABLE "reconciliation_imports" ADD CONSTRAINT "reconciliation_imports_source_fkey"
    FOREIGN KEY ("root_ledger_id", "source_id") REFERENCES "reconciliation_sources"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

CREATE TABLE "reconciliation_records" (
    "id"             UUID NOT NULL,
    "root_ledger_id" UUID NOT NULL,
    "source_id"      UUID NOT NULL,
    "external_id"    TEXT NOT NULL,
    "version"        INTEGER NOT NULL,
    -- The latest version of its external id; earlier versions stay for the runs that saw them.
    "is_current"     BOOLEAN NOT NULL,
    "asset_id"       UUID NOT NULL,
    "amount"         BIGINT NOT NULL,
    "direction"      "Direction" NOT NULL,
    "occurred_at"    TIMESTAMPTZ(3) NOT NULL,
    "reference"      TEXT,
    "account_code"   TEXT,
    "metadata"       JSONB NOT NULL DEFAULT '{}',
    -- sha256 of the canonical content: same external id and hash is `unchanged`.
    "content_hash"   BYTEA NOT NULL,
    "status"         TEXT NOT NULL DEFAULT 'UNMATCHED',
    "import_id"      UUID,
    "created_at"     TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "reconciliation_records_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "reconciliation_records_status" CHECK ("status" IN ('UNMATCHED', 'MATCHED', 'EXCLUDED')),
    CONSTRAINT "reconciliation_records_amount_positive" CHECK ("amount" > 0),
    CONSTRAINT "reconciliation_records_version_positive" CHECK ("version" >= 1),
    CONSTRAINT "reconciliation_records_external_id_length" CHECK (char_length("external_id") BETWEEN 1 AND 255),
    CONSTRAINT "reconciliation_records_reference_length" CHECK ("reference" IS NULL OR char_length("reference") <= 255),
    CONSTRAINT "reconciliation_records_account_code_length" CHECK ("account_code" IS NULL OR char_length("account_code") <= 255),
    CONSTRAINT "reconciliation_records_metadata_object" CHECK (jsonb_typeof("metadata") = 'object')
);
CREATE INDEX "reconciliation_records_id_idx" ON "reconciliation_records" ("id");
CREATE UNIQUE INDEX "reconciliation_records_version_key"
    ON "reconciliation_records" ("root_ledger_id", "source_id", "external_id", "version");
CREATE UNIQUE INDEX "reconciliation_records_current_key"
    ON "reconciliation_records" ("root_ledger_id", "source_id", "external_id") WHERE "is_current";
CREATE INDEX "reconciliation_records_occurred_idx"
    ON "reconciliation_records" ("root_ledger_id", "source_id", "occurred_at") WHERE "is_current";
CREATE INDEX "reconciliation_records_reference_idx"
    ON "reconciliation_records" ("root_ledger_id", "source_id", "reference") WHERE "is_current";
ALTER TABLE "reconciliation_records" ADD CONSTRAINT "reconciliation_records_source_fkey"
    FOREIGN KEY ("root_ledger_id", "source_id") REFERENCES "reconciliation_sources"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

CREATE TABLE "reconciliation_runs" (
    "id"                      UUID NOT NULL,
    "root_ledger_id"          UUID NOT NULL,
    "source_id"               UUID NOT NULL,
    "mode"                    TEXT NOT NULL,
    "status"                  TEXT NOT NULL DEFAULT 'RUNNING',
    "from"                    TIMESTAMPTZ(3) NOT NULL,
    "to"                      TIMESTAMPTZ(3) NOT NULL,
    "idempotency_key"         TEXT NOT NULL,
    "request_hash"            TEXT NOT NULL,
    -- What the run saw, so it can be reproduced: the source's rules version and the rule ids in order, and
    -- the journal's high-water mark (see the runs module for its exact meaning).
    "rules_version"           INTEGER NOT NULL,
    "rule_ids"                UUID[] NOT NULL DEFAULT '{}',
    "journal_high_water"      TEXT,
    "external_records"        INTEGER NOT NULL DEFAULT 0,
    "ledger_transactions"     INTEGER NOT NULL DEFAULT 0,
    "matched"                 INTEGER NOT NULL DEFAULT 0,
    "missing_in_ledger"       INTEGER NOT NULL DEFAULT 0,
    "missing_externally"      INTEGER NOT NULL DEFAULT 0,
    "amount_mismatch"         INTEGER NOT NULL DEFAULT 0,
    "duplicates"              INTEGER NOT NULL DEFAULT 0,
    "error"                   TEXT,
    "started_at"              TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    "finished_at"             TIMESTAMPTZ(3),
    CONSTRAINT "reconciliation_runs_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "reconciliation_runs_mode" CHECK ("mode" IN ('DRY_RUN', 'COMMIT')),
    CONSTRAINT "reconciliation_runs_status" CHECK ("status" IN ('RUNNING', 'COMPLETED', 'FAILED')),
    CONSTRAINT "reconciliation_runs_window" CHECK ("from" <= "to"),
    CONSTRAINT "reconciliation_runs_finished_shape" CHECK (("status" = 'RUNNING') = ("finished_at" IS NULL)),
    CONSTRAINT "reconciliation_runs_key_length" CHECK (char_length("idempotency_key") BETWEEN 1 AND 255)
);
CREATE INDEX "reconciliation_runs_id_idx" ON "reconciliation_runs" ("id");
CREATE UNIQUE INDEX "reconciliation_runs_key" ON "reconciliation_runs" ("root_ledger_id", "source_id", "idempotency_key");
CREATE INDEX "reconciliation_runs_source_idx" ON "reconciliation_runs" ("root_ledger_id", "source_id", "started_at", "id");
ALTER TABLE "reconciliation_runs" ADD CONSTRAINT "reconciliation_runs_source_fkey"
    FOREIGN KEY ("root_ledger_id", "source_id") REFERENCES "reconciliation_sources"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- The exclusive match of a source: at most one record per transaction and one transaction per record.
CREATE TABLE "reconciliation_matches" (
    "root_ledger_id" UUID NOT NULL,
    "source_id"      UUID NOT NULL,
    "transaction_id" UUID NOT NULL,
    "record_id"      UUID NOT NULL,
    -- The COMMIT run that made it; null for a continuous or manual match.
    "run_id"         UUID,
    -- RULE (a run), CONTINUOUS (the live matcher) or MANUAL (a resolution).
    "matched_by"     TEXT NOT NULL,
    "rule_id"        UUID,
    "created_at"     TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "reconciliation_matches_pkey" PRIMARY KEY ("root_ledger_id", "source_id", "transaction_id"),
    CONSTRAINT "reconciliation_matches_by" CHECK ("matched_by" IN ('RULE', 'CONTINUOUS', 'MANUAL'))
);
CREATE UNIQUE INDEX "reconciliation_matches_record_key" ON "reconciliation_matches" ("root_ledger_id", "record_id");
ALTER TABLE "reconciliation_matches" ADD CONSTRAINT "reconciliation_matches_source_fkey"
    FOREIGN KEY ("root_ledger_id", "source_id") REFERENCES "reconciliation_sources"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "reconciliation_matches" ADD CONSTRAINT "reconciliation_matches_transaction_fkey"
    FOREIGN KEY ("root_ledger_id", "transaction_id") REFERENCES "transactions"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "reconciliation_matches" ADD CONSTRAINT "reconciliation_matches_record_fkey"
    FOREIGN KEY ("root_ledger_id", "record_id") REFERENCES "reconciliation_records"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- What one run paired, DRY_RUN or COMMIT: the report's "matched" rows.
CREATE TABLE "reconciliation_run_matches" (
    "root_ledger_id" UUID NOT NULL,
    "run_id"         UUID NOT NULL,
    "record_id"      UUID NOT NULL,
    "transaction_id" UUID NOT NULL,
    "rule_id"        UUID,
    "record_amount"  BIGINT NOT NULL,
    "ledger_amount"  BIGINT NOT NULL,
    CONSTRAINT "reconciliation_run_matches_pkey" PRIMARY KEY ("root_ledger_id", "run_id", "record_id")
);
ALTER TABLE "reconciliation_run_matches" ADD CONSTRAINT "reconciliation_run_matches_run_fkey"
    FOREIGN KEY ("root_ledger_id", "run_id") REFERENCES "reconciliation_runs"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

CREATE TABLE "reconciliation_exceptions" (
    "id"                        UUID NOT NULL,
    "root_ledger_id"            UUID NOT NULL,
    "run_id"                    UUID NOT NULL,
    "source_id"                 UUID NOT NULL,
    "kind"                      TEXT NOT NULL,
    "status"                    TEXT NOT NULL DEFAULT 'OPEN',
    "record_id"                 UUID,
    "transaction_id"            UUID,
    -- Signed minor units as the account saw them (CREDIT positive): the record's, the ledger's, and
    -- expected - ledger.
    "expected_amount"           BIGINT,
    "ledger_amount"             BIGINT,
    "difference"                BIGINT,
    "resolution"                TEXT,
    "note"                      TEXT,
    "resolution_key"            TEXT,
    "resolution_transaction_id" UUID,
    "resolved_by"               TEXT,
    "resolved_at"               TIMESTAMPTZ(3),
    "created_at"                TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "reconciliation_exceptions_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "reconciliation_exceptions_kind" CHECK ("kind" IN
        ('MISSING_IN_LEDGER', 'MISSING_EXTERNALLY', 'AMOUNT_MISMATCH', 'DUPLICATE_EXTERNAL', 'AMBIGUOUS')),
    CONSTRAINT "reconciliation_exceptions_status" CHECK ("status" IN ('OPEN', 'RESOLVED')),
    CONSTRAINT "reconciliation_exceptions_resolution" CHECK (
        "resolution" IS NULL OR "resolution" IN ('POST_ADJUSTMENT', 'MATCH_MANUALLY', 'EXPLAIN')),
    CONSTRAINT "reconciliation_exceptions_resolved_shape" CHECK (
        ("status" = 'RESOLVED') = ("resolution" IS NOT NULL AND "resolved_at" IS NOT NULL)),
    CONSTRAINT "reconciliation_exceptions_subject" CHECK ("record_id" IS NOT NULL OR "transaction_id" IS NOT NULL)
);
CREATE INDEX "reconciliation_exceptions_id_idx" ON "reconciliation_exceptions" ("id");
CREATE INDEX "reconciliation_exceptions_run_idx" ON "reconciliation_exceptions" ("root_ledger_id", "run_id", "id");
CREATE UNIQUE INDEX "reconciliation_exceptions_resolution_key"
    ON "reconciliation_exceptions" ("root_ledger_id", "source_id", "resolution_key") WHERE "resolution_key" IS NOT NULL;
ALTER TABLE "reconciliation_exceptions" ADD CONSTRAINT "reconciliation_exceptions_run_fkey"
    FOREIGN KEY ("root_ledger_id", "run_id") REFERENCES "reconciliation_runs"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "reconciliation_exceptions" ADD CONSTRAINT "reconciliation_exceptions_resolution_transaction_fkey"
    FOREIGN KEY ("root_ledger_id", "resolution_transaction_id") REFERENCES "transactions"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
