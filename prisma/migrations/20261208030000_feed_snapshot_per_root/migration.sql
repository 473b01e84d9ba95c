-- A snapshot of one tree's writers, for where a new webhook endpoint starts in the feed (endpoint-start.core.ts):
-- pg_current_snapshot() as text (`xmin:xmax:xip,…`) and its xmin. The endpoint skips the events the snapshot
-- shows as committed, so it receives exactly what commits after it was made. Feed positions are transaction
-- ids, which are each node's own: on Citus a tree's events carry the ids of the worker that holds its shards,
-- so the snapshot must be taken there too. As a function routed by its root (`db:distribute`, like
-- ledger_events_bounds of 20261207030500_feed_bounds_per_root) it runs on that worker, inside the
-- transaction that inserts the endpoint. Taken on the coordinator, it compared the coordinator's ids with the
-- worker's. On plain Postgres the root is unused and the answer is the statement it replaces.
CREATE FUNCTION "ledger_events_snapshot"(p_root_ledger_id uuid, OUT snapshot text, OUT xmin int8)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    s pg_snapshot := pg_current_snapshot();
BEGIN
    snapshot := s::text;
    xmin := pg_snapshot_xmin(s)::text::int8;
END;
$$;
