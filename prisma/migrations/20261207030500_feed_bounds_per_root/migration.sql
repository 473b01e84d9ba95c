-- The feed's bounds for one tree: its watermark (ledger_events_watermark(), the oldest writer still running)
-- and the next transaction id. Transaction ids are a node's own: on Citus a tree's events are written on the
-- worker that holds its shards, with that worker's ids, so the bounds must be read there too; as a function
-- routed by its root (`db:distribute`) this runs on that worker (docs/citus.md). The coordinator's ids said
-- nothing about the worker's, and the feed skipped an event of a long posting. On plain Postgres the root is
-- unused and the answer is the one statement it replaces.
CREATE FUNCTION "ledger_events_bounds"(p_root_ledger_id uuid, OUT xmin int8, OUT xmax int8)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    xmin := ledger_events_watermark();
    xmax := pg_snapshot_xmax(pg_current_snapshot())::text::int8;
END;
$$;
