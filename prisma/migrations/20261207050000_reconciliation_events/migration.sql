-- Reconciliation in the durable event feed (and so to webhooks): `reconciliation.run.completed` (type 5) when
-- a run completes, whatever its mode, and `reconciliation.exception.opened` (type 6) for each exception a
-- COMMIT run declares. A DRY_RUN's exceptions are a report, not the close: they are read in the run, not
-- announced. Like the other events, the rows are written by triggers in the writing transaction, so an event
-- exists if and only if the run's completion committed.
--
-- A reconciliation event has no transaction or account subject of its own: it belongs to the source's
-- ledger (a feed reader or endpoint sees it when the source is in its subtree), and its `data` is the
-- row's payload, built here: { "run": {...} } or { "exception": {...} }, amounts as strings.
ALTER TABLE "ledger_events" DROP CONSTRAINT "ledger_events_subject";
ALTER TABLE "ledger_events" ADD CONSTRAINT "ledger_events_subject"
    CHECK (("transaction_id" IS NOT NULL) OR ("account_id" IS NOT NULL) OR ("type" IN (5, 6) AND "payload" IS NOT NULL));

CREATE FUNCTION "ledger_events_reconciliation_run_completed"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_ledger_id uuid;
BEGIN
    SELECT s."ledger_id" INTO v_ledger_id FROM "reconciliation_sources" s
     WHERE s."root_ledger_id" = NEW."root_ledger_id" AND s."id" = NEW."source_id";
    INSERT INTO "ledger_events" ("root_ledger_id", "xid", "id", "type", "ledger_id", "occurred_at", "payload")
    VALUES (NEW."root_ledger_id", pg_current_xact_id()::text::int8, nextval('ledger_events_id_seq'), 5, v_ledger_id,
            NEW."finished_at",
            jsonb_build_object('run', jsonb_build_object(
                'id', NEW."id", 'sourceId', NEW."source_id", 'ledgerId', v_ledger_id, 'rootLedgerId', NEW."root_ledger_id",
                'mode', NEW."mode", 'status', NEW."status", 'idempotencyKey', NEW."idempotency_key",
                'from', to_char(NEW."from" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                'to', to_char(NEW."to" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                'rulesVersion', NEW."rules_version", 'journalHighWater', NEW."journal_high_water",
                'summary', jsonb_build_object(
                    'externalRecords', NEW."external_records", 'ledgerTransactions', NEW."ledger_transactions",
                    'matched', NEW."matched", 'missingInLedger', NEW."missing_in_ledger",
                    'missingExternally', NEW."missing_externally", 'amountMismatch', NEW."amount_mismatch",
                    'duplicates', NEW."duplicates", 'ambiguous', NEW."ambiguous"),
                'startedAt', to_char(NEW."started_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                'finishedAt', to_char(NEW."finished_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))));
    RETURN NULL;
END;
$$;
CREATE TRIGGER "ledger_events_reconciliation_run_completed" AFTER UPDATE OF "status" ON "reconciliation_runs"
    FOR EACH ROW WHEN (NEW."status" = 'COMPLETED' AND OLD."status" <> 'COMPLETED')
    EXECUTE FUNCTION "ledger_events_reconciliation_run_completed"();

-- One INSERT per statement however many exceptions the run wrote. The new rows are first gathered into
-- arrays (a statement on the transition table alone) and inserted from them, the form the other feed
-- triggers take so that Citus can plan the insert into the distributed ledger_events (docs/citus.md).
CREATE FUNCTION "ledger_events_reconciliation_exceptions_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_xid int8 := pg_current_xact_id()::text::int8;
    v_roots uuid[];
    v_runs uuid[];
    v_payloads jsonb[];
BEGIN
    SELECT array_agg(n."root_ledger_id"), array_agg(n."run_id"),
           array_agg(jsonb_build_object(
               'id', n."id", 'runId', n."run_id", 'sourceId', n."source_id", 'kind', n."kind", 'status', n."status",
               'externalRecordId', n."record_id", 'transactionId', n."transaction_id", 'accountId', n."account_id",
               'assetId', n."asset_id", 'expectedAmount', n."expected_amount"::text, 'ledgerAmount', n."ledger_amount"::text,
               'difference', n."difference"::text,
               'createdAt', to_char(n."created_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
      INTO v_roots, v_runs, v_payloads
      FROM "new_exceptions" n;
    IF v_roots IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO "ledger_events" ("root_ledger_id", "xid", "id", "type", "ledger_id", "occurred_at", "payload")
    SELECT x.root_ledger_id, v_xid, nextval('ledger_events_id_seq'), 6, s."ledger_id", clock_timestamp(),
           jsonb_build_object('exception', x.payload || jsonb_build_object('ledgerId', s."ledger_id", 'asset', a."code"))
      FROM unnest(v_roots, v_runs, v_payloads) WITH ORDINALITY AS x (root_ledger_id, run_id, payload, n)
      JOIN "reconciliation_runs" r ON r."root_ledger_id" = x.root_ledger_id AND r."id" = x.run_id AND r."mode" = 'COMMIT'
      JOIN "reconciliation_sources" s ON s."root_ledger_id" = x.root_ledger_id AND s."id" = r."source_id"
      LEFT JOIN "assets" a ON a."root_ledger_id" = x.root_ledger_id AND a."id" = (x.payload ->> 'assetId')::uuid
     ORDER BY x.n;
    RETURN NULL;
END;
$$;
CREATE TRIGGER "ledger_events_reconciliation_exceptions_inserted" AFTER INSERT ON "reconciliation_exceptions"
    REFERENCING NEW TABLE AS "new_exceptions"
    FOR EACH STATEMENT EXECUTE FUNCTION "ledger_events_reconciliation_exceptions_inserted"();
