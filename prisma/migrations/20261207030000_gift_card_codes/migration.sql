-- Gift card codes are unique across every tree (a till knows only the card, not its ledger), which the
-- unique index gift_cards_code_digest_key enforced without the distribution column: Citus refuses it
-- (DESIGN.md §8, docs/citus.md). The rule moves to gift_card_codes (digest -> root and card), a global table
-- (a Citus reference table) written in the transaction that issues the card, so a duplicate digest still
-- fails the issuance with a unique violation; a code is found through it with the root in hand. Cards are
-- never deleted, so the two never drift. On plain Postgres it is one more index entry per issued card.
CREATE TABLE "gift_card_codes" (
    "code_digest"    BYTEA NOT NULL,
    "root_ledger_id" UUID NOT NULL,
    "gift_card_id"   UUID NOT NULL,
    CONSTRAINT "gift_card_codes_pkey" PRIMARY KEY ("code_digest"),
    CONSTRAINT "gift_card_codes_code_digest" CHECK (octet_length("code_digest") = 32)
);
INSERT INTO "gift_card_codes" ("code_digest", "root_ledger_id", "gift_card_id")
SELECT "code_digest", "root_ledger_id", "id" FROM "gift_cards";
DROP INDEX "gift_cards_code_digest_key";
CREATE UNIQUE INDEX "gift_cards_root_ledger_id_code_digest_key" ON "gift_cards"("root_ledger_id", "code_digest");
