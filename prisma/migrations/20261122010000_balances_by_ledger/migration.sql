-- Ledger roll-ups find a ledger's balance rows by (ledger, asset). The index no longer starts with
-- root_ledger_id: with it, a balances table that had never been analyzed (a bulk load or a restore) made
-- the posting functions' cached plans look rows up by (root, ledger, asset) instead of the primary key,
-- scanning every balance of the tree per row (1–2 ms a posting instead of 0.05). Now the primary key is
-- the only index a posting's lookups can use.
DROP INDEX "balances_root_ledger_id_ledger_id_asset_id_idx";
CREATE INDEX "balances_ledger_id_asset_id_idx" ON "balances"("ledger_id", "asset_id");
