-- Partner webhooks, read from the durable event feed (ledger_events).
--
-- An endpoint watches one ledger subtree and keeps its own cursor into the feed, (cursor_xid, cursor_id),
-- in the feed's commit-consistent order. A dispatcher locks the endpoint row (FOR UPDATE SKIP LOCKED),
-- reads the feed after the cursor, inserts one delivery per event and moves the cursor, all in one
-- transaction: an event becomes a delivery exactly once (the unique index below guards it again), and a
-- crash anywhere rolls back to a cursor that still has the event ahead of it.
--
-- A delivery is claimed by a worker with a lease (claimed_by, claimed_until). Claiming also moves
-- next_attempt_at to the end of the lease, so a delivery whose worker died is simply due again when its
-- lease runs out, and the claim needs one index.
--
-- Like every tenant table, both carry root_ledger_id in their keys (DESIGN.md: distributable by tree), with a
-- plain index on id for the lookups by id the API makes.

CREATE TABLE "webhook_endpoints" (
    "id"                         UUID NOT NULL,
    "root_ledger_id"             UUID NOT NULL,
    "ledger_id"                  UUID NOT NULL,
    "url"                        TEXT NOT NULL,
    "description"                TEXT,
    -- Public event type names (events.core.ts); empty: every type.
    "event_types"                TEXT[] NOT NULL DEFAULT '{}',
    "status"                     TEXT NOT NULL DEFAULT 'ENABLED',
    "disabled_reason"            TEXT,
    -- AES-256-GCM under the server's WEBHOOK_SECRET_KEY: 12-byte IV, 16-byte tag, then the ciphertext.
    "secret_encrypted"           BYTEA NOT NULL,
    -- The secret before the last rotation, which keeps signing until previous_expires_at.
    "previous_secret_encrypted"  BYTEA,
    "previous_expires_at"        TIMESTAMPTZ(3),
    -- The last feed position turned into deliveries; starts at the feed's head when the endpoint is created.
    "cursor_xid"                 BIGINT NOT NULL,
    "cursor_id"                  BIGINT NOT NULL,
    -- pg_current_snapshot() at creation, as text: events it shows as committed are skipped, so an endpoint
    -- receives exactly what commits after it was made (the cursor starts at the conservative feed head).
    "start_snapshot"             TEXT NOT NULL,
    -- Since when every attempt has failed; cleared by a success or a re-enable.
    "failing_since"              TIMESTAMPTZ(3),
    "created_at"                 TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    "updated_at"                 TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "webhook_endpoints_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "webhook_endpoints_status" CHECK ("status" IN ('ENABLED', 'DISABLED')),
    CONSTRAINT "webhook_endpoints_rotation_shape"
        CHECK (("previous_secret_encrypted" IS NULL) = ("previous_expires_at" IS NULL))
);
ALTER TABLE "webhook_endpoints" ADD CONSTRAINT "webhook_endpoints_ledger_fkey"
    FOREIGN KEY ("root_ledger_id", "ledger_id") REFERENCES "ledgers"("root_ledger_id", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;
CREATE INDEX "webhook_endpoints_id_idx" ON "webhook_endpoints" ("id");

CREATE TABLE "webhook_deliveries" (
    "id"                    UUID NOT NULL,
    "endpoint_id"           UUID NOT NULL,
    "root_ledger_id"        UUID NOT NULL,
    -- FEED: made by the dispatcher, once per event; REDELIVERY: redeliverWebhooks; TEST: sendTestWebhook.
    "origin"                TEXT NOT NULL,
    -- The event (ledger_events key); null for a test send, whose synthetic event is stored in test_event.
    "event_xid"             BIGINT,
    "event_id"              BIGINT,
    "test_event"            JSONB,
    "status"                TEXT NOT NULL DEFAULT 'PENDING',
    -- Attempts started (counted when claimed, so a worker that dies mid-send still uses one up).
    "attempts"              INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at"       TIMESTAMPTZ(3),
    "last_attempt_at"       TIMESTAMPTZ(3),
    "last_response_status"  INTEGER,
    "last_error"            TEXT,
    "claimed_by"            TEXT,
    "claimed_until"         TIMESTAMPTZ(3),
    "created_at"            TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("root_ledger_id", "id"),
    CONSTRAINT "webhook_deliveries_status" CHECK ("status" IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    CONSTRAINT "webhook_deliveries_origin" CHECK ("origin" IN ('FEED', 'REDELIVERY', 'TEST')),
    CONSTRAINT "webhook_deliveries_subject" CHECK (
        ("origin" = 'TEST' AND "test_event" IS NOT NULL AND "event_xid" IS NULL AND "event_id" IS NULL)
        OR ("origin" <> 'TEST' AND "test_event" IS NULL AND "event_xid" IS NOT NULL AND "event_id" IS NOT NULL)),
    -- A pending delivery is always due at some time; a finished one never is.
    CONSTRAINT "webhook_deliveries_due_shape" CHECK (("status" = 'PENDING') = ("next_attempt_at" IS NOT NULL))
);
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_endpoint_fkey"
    FOREIGN KEY ("root_ledger_id", "endpoint_id") REFERENCES "webhook_endpoints"("root_ledger_id", "id")
    ON DELETE CASCADE ON UPDATE RESTRICT;
-- ledger_events is append-only, so this key never blocks a delete and needs no index of its own.
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_event_fkey"
    FOREIGN KEY ("root_ledger_id", "event_xid", "event_id") REFERENCES "ledger_events"("root_ledger_id", "xid", "id")
    ON DELETE RESTRICT ON UPDATE RESTRICT;
-- The workers' claim: per enabled endpoint, its due pending deliveries, oldest due first (taken per
-- endpoint so that one endpoint's backlog cannot crowd the others out of a claim).
CREATE INDEX "webhook_deliveries_due_idx" ON "webhook_deliveries" ("endpoint_id", "next_attempt_at")
    WHERE "status" = 'PENDING';
-- Endpoint.deliveries (newest first) and the cascade of a delete.
CREATE INDEX "webhook_deliveries_endpoint_id_id_idx" ON "webhook_deliveries" ("endpoint_id", "id");
-- A delivery by id (a test send), and pruning: ids are UUIDv7, so "made before" is an id range.
CREATE INDEX "webhook_deliveries_id_idx" ON "webhook_deliveries" ("id");
-- Exactly one feed delivery per event and endpoint, whatever the dispatcher does.
CREATE UNIQUE INDEX "webhook_deliveries_feed_event_key"
    ON "webhook_deliveries" ("root_ledger_id", "endpoint_id", "event_xid", "event_id") WHERE "origin" = 'FEED';
