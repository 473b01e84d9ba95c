-- The statement-level check of new reconciliation matches' references (20261206030300), cheaper for a COMMIT
-- run's 100,000s of pairs. Its one query tested the three references in one OR, which the planner can only
-- run as hashed subplans: each statement hashed every transaction and every record of every tree (a
-- sequential scan of both tables, about 1 s of a 100,000-record COMMIT run against 1,000,000 transactions).
-- Each reference is now its own anti-join of the new rows against the key it names, which the planner
-- runs as index probes for the new rows only (or as a hash when that is cheaper); the sources, few, are
-- tested once each. Same errors as before: foreign_key_violation naming the first missing reference.
CREATE OR REPLACE FUNCTION "reconciliation_matches_check_references"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_missing record;
    v_kind text;
BEGIN
    SELECT n."root_ledger_id", n."source_id", NULL::uuid AS "transaction_id", NULL::uuid AS "record_id" INTO v_missing
      FROM (SELECT DISTINCT "root_ledger_id", "source_id" FROM "new_matches") n
     WHERE NOT EXISTS (SELECT 1 FROM "reconciliation_sources" s
                        WHERE s."root_ledger_id" = n."root_ledger_id" AND s."id" = n."source_id")
     LIMIT 1;
    v_kind := 'source';
    IF NOT FOUND THEN
        SELECT n."root_ledger_id", n."source_id", n."transaction_id", n."record_id" INTO v_missing
          FROM "new_matches" n
         WHERE NOT EXISTS (SELECT 1 FROM "transactions" t
                            WHERE t."root_ledger_id" = n."root_ledger_id" AND t."id" = n."transaction_id")
         LIMIT 1;
        v_kind := 'transaction';
    END IF;
    IF NOT FOUND THEN
        SELECT n."root_ledger_id", n."source_id", n."transaction_id", n."record_id" INTO v_missing
          FROM "new_matches" n
         WHERE NOT EXISTS (SELECT 1 FROM "reconciliation_records" r
                            WHERE r."root_ledger_id" = n."root_ledger_id" AND r."id" = n."record_id")
         LIMIT 1;
        v_kind := 'record';
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'reconciliation match (%, %, %, %) names a % that does not exist',
            v_missing."root_ledger_id", v_missing."source_id", v_missing."transaction_id", v_missing."record_id", v_kind
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;
