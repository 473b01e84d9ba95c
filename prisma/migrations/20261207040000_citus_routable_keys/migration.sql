-- Keys Citus can route: every unique key and primary key of a tenant table includes root_ledger_id, and
-- no foreign key points from a global (reference) table into a tenant (distributed) one (DESIGN.md §8,
-- issue 17 part 4, docs/citus-routing.md). On plain Postgres each change costs nothing measurable.
--
-- 1. Root ledger codes name tenants globally (`ledger(code:)`, the duplicate-code check of createLedger),
--    which the partial unique index ledgers_root_code_key enforced without the distribution column: Citus
--    refuses it. The rule moves to root_ledger_codes (code -> root), a small global table (a Citus reference
--    table) that createLedger writes in the transaction that inserts the root ledger, so a duplicate code
--    still fails that insert with a unique violation (the API's BAD_INPUT, unchanged). It is filled here
--    from the existing roots. Root ledgers are never deleted nor renamed, so the two never drift.
--
-- 2. audit_events was keyed on id alone, and its global events (a key created with no ledger) had a NULL
--    root. The key becomes (root_ledger_id, id) and global events carry the well-known root
--    00000000-0000-0000-0000-000000000000 (the nil UUID: no ledger has it, ids are UUIDv7), so they land
--    on one shard and never show in any ledger's audit trail, as before. Existing NULLs are rewritten with
--    the append-only trigger held off for that one statement.
--
-- 3. api_keys is global (a Citus reference table): a foreign key from it to ledgers, a distributed table,
--    is refused by Citus. It is dropped; ApiKeyService.create reads the scope ledger before writing the key
--    and refuses a missing one with NOT_FOUND (as it already did before the insert), and ledgers are never
--    deleted (ledgers are referenced with ON DELETE RESTRICT by every tenant table and no code path deletes
--    one), so a key's scope ledger still always exists. The CHECK that root and ledger are both set or both
--    NULL stays.

CREATE TABLE "root_ledger_codes" (
    "code"           TEXT NOT NULL,
    "root_ledger_id" UUID NOT NULL,
    CONSTRAINT "root_ledger_codes_pkey" PRIMARY KEY ("code")
);
CREATE UNIQUE INDEX "root_ledger_codes_root_ledger_id_key" ON "root_ledger_codes"("root_ledger_id");
INSERT INTO "root_ledger_codes" ("code", "root_ledger_id")
SELECT "code", "id" FROM "ledgers" WHERE "parent_id" IS NULL;
DROP INDEX "ledgers_root_code_key";

ALTER TABLE "audit_events" DISABLE TRIGGER "audit_events_append_only";
UPDATE "audit_events" SET "root_ledger_id" = '00000000-0000-0000-0000-000000000000' WHERE "root_ledger_id" IS NULL;
ALTER TABLE "audit_events" ENABLE TRIGGER "audit_events_append_only";
ALTER TABLE "audit_events" ALTER COLUMN "root_ledger_id" SET NOT NULL;
ALTER TABLE "audit_events" DROP CONSTRAINT "audit_events_pkey";
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_pkey" PRIMARY KEY ("root_ledger_id", "id");
-- The new primary key is this index.
DROP INDEX "audit_events_root_ledger_id_id_idx";

ALTER TABLE "api_keys" DROP CONSTRAINT "api_keys_ledger_fkey";
