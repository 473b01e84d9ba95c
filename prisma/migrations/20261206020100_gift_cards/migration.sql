-- Gift cards: an account of the card's ledger holding its value, found by a code and opened by a PIN.
--
-- Neither the code nor the PIN is stored. code_digest is HMAC-SHA256 of the code under the server's
-- GIFT_CARD_KEY, so a card can be looked up by its code and a stolen table cannot be searched for codes
-- without the key; pin_hash is a salted scrypt hash, slow on purpose. last4 is all of the number that is
-- ever shown again (audit rows name the card by id).
--
-- failed_attempts counts wrong PINs in a row; the fifth locks the card (status LOCKED) in the same
-- UPDATE, which matches only an ACTIVE card, so concurrent wrong PINs count exactly five. A right PIN
-- resets it; an ADMIN's unlock resets it and the status.

CREATE TABLE "gift_cards" (
    "id"              UUID NOT NULL,
    "root_ledger_id"  UUID NOT NULL,
    "ledger_id"       UUID NOT NULL,
    "account_id"      UUID NOT NULL,
    "asset_id"        UUID NOT NULL,
    "code_digest"     BYTEA NOT NULL,
    "pin_hash"        TEXT NOT NULL,
    "last4"           TEXT NOT NULL,
    "status"          TEXT NOT NULL DEFAULT 'ACTIVE',
    "failed_attempts" INTEGER NOT NULL DEFAULT 0,
    "expires_at"      TIMESTAMPTZ(3),
    "idempotency_key" TEXT NOT NULL,
    "request_hash"    TEXT NOT NULL,
    "created_at"      TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at"      TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "gift_cards_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "gift_cards_status" CHECK ("status" IN ('ACTIVE', 'LOCKED', 'CLOSED')),
    CONSTRAINT "gift_cards_failed_attempts" CHECK ("failed_attempts" BETWEEN 0 AND 5),
    CONSTRAINT "gift_cards_locked_at_five" CHECK ("status" <> 'ACTIVE' OR "failed_attempts" < 5),
    CONSTRAINT "gift_cards_last4" CHECK ("last4" ~ '^[0-9]{4}$'),
    CONSTRAINT "gift_cards_code_digest" CHECK (octet_length("code_digest") = 32)
);
CREATE INDEX "gift_cards_id_idx" ON "gift_cards"("id");
-- Codes are looked up without a tree (a till knows only the card), so a digest is unique everywhere.
CREATE UNIQUE INDEX "gift_cards_code_digest_key" ON "gift_cards"("code_digest");
CREATE UNIQUE INDEX "gift_cards_root_ledger_id_idempotency_key_key" ON "gift_cards"("root_ledger_id", "idempotency_key");
CREATE UNIQUE INDEX "gift_cards_root_ledger_id_account_id_key" ON "gift_cards"("root_ledger_id", "account_id");
ALTER TABLE "gift_cards" ADD CONSTRAINT "gift_cards_ledger_fkey"
    FOREIGN KEY ("root_ledger_id", "ledger_id") REFERENCES "ledgers"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "gift_cards" ADD CONSTRAINT "gift_cards_account_fkey"
    FOREIGN KEY ("root_ledger_id", "account_id") REFERENCES "accounts"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
ALTER TABLE "gift_cards" ADD CONSTRAINT "gift_cards_asset_fkey"
    FOREIGN KEY ("root_ledger_id", "asset_id") REFERENCES "assets"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
