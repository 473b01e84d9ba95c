-- Reconciliation throughput: what a COMMIT run pays per matched pair, and an import per record.
--
-- 1. A record's MATCHED status is derived from reconciliation_matches (a record is matched if and only if
--    a match names it), no longer stored: a COMMIT run used to UPDATE every record it matched, about as
--    long as inserting the matches themselves. The stored `status` now says only whether a resolution set
--    the record aside (EXCLUDED) or not (UNMATCHED); rows stored as MATCHED before this migration all have
--    their match (it was written in the same statement), so reading them derived gives the same answer.
--    The CHECK keeps allowing 'MATCHED' so an instance still on the previous release can finish a run
--    during a rolling upgrade.
--
-- 2. The three foreign keys of reconciliation_matches (to its source, its transaction and its record) were
--    three trigger calls per inserted pair, each taking a KEY SHARE lock on the row it names: about 35% of
--    a COMMIT run of 100,000 records. They are replaced by, for the inserting side, one statement-level
--    trigger that checks every new pair's three references in one set-based query over the transition
--    table (a missing one raises foreign_key_violation, like the foreign key did), and for the referenced
--    side by RESTRICT triggers on the rows that could otherwise go away:
--    - transactions are never deleted (transactions_no_delete) and their keys never change;
--    - a record or a source named by a match cannot be deleted, nor its key changed
--      (reconciliation_*_match_restrict below, the foreign keys' ON DELETE/UPDATE RESTRICT). No code path
--      deletes either; versions of records stay for the runs that saw them.
--    What the foreign keys' KEY SHARE locks added beyond that is protection against a referenced row
--    deleted concurrently with the insert, between the check and the commit. Every writer of matches (a
--    COMMIT run, the continuous matcher, a manual match) holds its source row FOR UPDATE for the whole
--    transaction, which is stronger than KEY SHARE for the source; transactions cannot be deleted at all;
--    and records are never deleted. The exclusive keys (one match per (source, transaction), one per
--    record) are unchanged and remain the guard against double matching.
--
-- 3. The same for the foreign key from reconciliation_records to its source (5 µs a row, about a fifth of
--    the INSERT of an import's records): the one writer of records, the import's merge, holds the source
--    row FOR UPDATE for its whole transaction (import.service.ts), so the source exists when the records
--    commit; one statement-level check over the inserted rows raises foreign_key_violation if it did not,
--    and a source with records cannot be deleted nor its key changed (reconciliation_sources_match_restrict).

ALTER TABLE "reconciliation_matches" DROP CONSTRAINT "reconciliation_matches_source_fkey";
ALTER TABLE "reconciliation_matches" DROP CONSTRAINT "reconciliation_matches_transaction_fkey";
ALTER TABLE "reconciliation_matches" DROP CONSTRAINT "reconciliation_matches_record_fkey";

CREATE OR REPLACE FUNCTION "reconciliation_matches_check_references"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_missing record;
BEGIN
    SELECT n."root_ledger_id", n."source_id", n."transaction_id", n."record_id",
           NOT EXISTS (SELECT 1 FROM "reconciliation_sources" s
                        WHERE s."root_ledger_id" = n."root_ledger_id" AND s."id" = n."source_id") AS no_source,
           NOT EXISTS (SELECT 1 FROM "transactions" t
                        WHERE t."root_ledger_id" = n."root_ledger_id" AND t."id" = n."transaction_id") AS no_transaction
      INTO v_missing
      FROM "new_matches" n
     WHERE NOT EXISTS (SELECT 1 FROM "reconciliation_sources" s
                        WHERE s."root_ledger_id" = n."root_ledger_id" AND s."id" = n."source_id")
        OR NOT EXISTS (SELECT 1 FROM "transactions" t
                        WHERE t."root_ledger_id" = n."root_ledger_id" AND t."id" = n."transaction_id")
        OR NOT EXISTS (SELECT 1 FROM "reconciliation_records" r
                        WHERE r."root_ledger_id" = n."root_ledger_id" AND r."id" = n."record_id")
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'reconciliation match (%, %, %, %) names a % that does not exist',
            v_missing."root_ledger_id", v_missing."source_id", v_missing."transaction_id", v_missing."record_id",
            CASE WHEN v_missing.no_source THEN 'source' WHEN v_missing.no_transaction THEN 'transaction' ELSE 'record' END
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER "reconciliation_matches_check_references" AFTER INSERT ON "reconciliation_matches"
    REFERENCING NEW TABLE AS "new_matches"
    FOR EACH STATEMENT EXECUTE FUNCTION "reconciliation_matches_check_references"();

-- Matches are never updated; if one were, its references would have to be checked again.
CREATE OR REPLACE FUNCTION "reconciliation_matches_no_update"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'reconciliation_matches rows are not updated' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER "reconciliation_matches_no_update" BEFORE UPDATE OF "root_ledger_id", "source_id", "transaction_id", "record_id"
    ON "reconciliation_matches" FOR EACH ROW EXECUTE FUNCTION "reconciliation_matches_no_update"();

CREATE OR REPLACE FUNCTION "reconciliation_records_match_restrict"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW."root_ledger_id" = OLD."root_ledger_id" AND NEW."id" = OLD."id" THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM "reconciliation_matches" m
                WHERE m."root_ledger_id" = OLD."root_ledger_id" AND m."record_id" = OLD."id") THEN
        RAISE EXCEPTION 'reconciliation record % is matched: % rejected', OLD."id", TG_OP
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$;
CREATE TRIGGER "reconciliation_records_match_restrict" BEFORE DELETE OR UPDATE OF "root_ledger_id", "id"
    ON "reconciliation_records" FOR EACH ROW EXECUTE FUNCTION "reconciliation_records_match_restrict"();

CREATE OR REPLACE FUNCTION "reconciliation_sources_match_restrict"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW."root_ledger_id" = OLD."root_ledger_id" AND NEW."id" = OLD."id" THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM "reconciliation_matches" m
                WHERE m."root_ledger_id" = OLD."root_ledger_id" AND m."source_id" = OLD."id")
       OR EXISTS (SELECT 1 FROM "reconciliation_records" r
                   WHERE r."root_ledger_id" = OLD."root_ledger_id" AND r."source_id" = OLD."id") THEN
        RAISE EXCEPTION 'reconciliation source % has records or matches: % rejected', OLD."id", TG_OP
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$;
CREATE TRIGGER "reconciliation_sources_match_restrict" BEFORE DELETE OR UPDATE OF "root_ledger_id", "id"
    ON "reconciliation_sources" FOR EACH ROW EXECUTE FUNCTION "reconciliation_sources_match_restrict"();

ALTER TABLE "reconciliation_records" DROP CONSTRAINT "reconciliation_records_source_fkey";

CREATE OR REPLACE FUNCTION "reconciliation_records_check_source"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_missing record;
BEGIN
    SELECT n."root_ledger_id", n."source_id" INTO v_missing
      FROM (SELECT DISTINCT "root_ledger_id", "source_id" FROM "new_records") n
     WHERE NOT EXISTS (SELECT 1 FROM "reconciliation_sources" s
                        WHERE s."root_ledger_id" = n."root_ledger_id" AND s."id" = n."source_id")
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'reconciliation records name source (%, %), which does not exist',
            v_missing."root_ledger_id", v_missing."source_id" USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER "reconciliation_records_check_source" AFTER INSERT ON "reconciliation_records"
    REFERENCING NEW TABLE AS "new_records"
    FOR EACH STATEMENT EXECUTE FUNCTION "reconciliation_records_check_source"();

CREATE OR REPLACE FUNCTION "reconciliation_records_no_source_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW."root_ledger_id" <> OLD."root_ledger_id" OR NEW."source_id" <> OLD."source_id" THEN
        RAISE EXCEPTION 'a reconciliation record does not change source' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER "reconciliation_records_no_source_change" BEFORE UPDATE OF "root_ledger_id", "source_id"
    ON "reconciliation_records" FOR EACH ROW EXECUTE FUNCTION "reconciliation_records_no_source_change"();
