-- The event feed's watermark, per database rather than per cluster.
--
-- A feed reader shows only rows of transactions below a watermark that every still-running writer is at
-- or above, so a row can never appear behind a cursor later. The first watermark was
-- pg_snapshot_xmin(pg_current_snapshot()): the oldest transaction running anywhere on the Postgres
-- server. A transaction left open in any other database of the server (a test, a report, an
-- idle-in-transaction session) then stalled every feed reader and every webhook here, although no
-- transaction of another database can write this database's ledger_events.
--
-- This function counts only this database's transactions (and its prepared ones), in this order:
--   1. head: the next transaction id to be assigned; any writer that gets an id from now on is above it;
--   2. then, the ids of this database's backends still running, read afresh from the process array
--      (pg_stat_activity reads it under ProcArrayLock; pg_stat_clear_snapshot drops a copy cached earlier
--      in the same transaction);
--   3. the watermark is the least of them.
-- A writer below the watermark has finished before step 2 read the process array. The caller must read
-- the rows in a later statement of a READ COMMITTED transaction (whose snapshot is taken after step 2),
-- where every such writer's rows are visible: read in the same statement, or under a REPEATABLE READ
-- snapshot taken earlier, a writer that finished meanwhile would be invisible yet below the mark.
-- The caller's own transaction is left out: it writes no feed rows while it reads the feed.
CREATE FUNCTION "ledger_events_watermark"() RETURNS int8
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_head   int8;
    v_oldest int8;
BEGIN
    v_head := pg_snapshot_xmax(pg_current_snapshot())::text::int8;
    PERFORM pg_stat_clear_snapshot();
    -- The 32-bit ids of pg_stat_activity and pg_prepared_xacts, widened to the 64-bit ids of the feed:
    -- the nearest 64-bit id to head with those low bits (running transactions are within 2^31 of it).
    SELECT min(w.full_xid)
      INTO v_oldest
      FROM (SELECT x.low + (v_head & ~4294967295::int8)
                   + CASE WHEN x.low + (v_head & ~4294967295::int8) > v_head + 2147483648 THEN -4294967296
                          WHEN x.low + (v_head & ~4294967295::int8) < v_head - 2147483648 THEN 4294967296
                          ELSE 0 END AS full_xid
              FROM (SELECT a.backend_xid::text::int8 AS low
                      FROM pg_stat_activity a
                     WHERE a.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
                       AND a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid()
                    UNION ALL
                    SELECT p.transaction::text::int8
                      FROM pg_prepared_xacts p
                     WHERE p.database = current_database()) x) w;
    RETURN least(v_head, coalesce(v_oldest, v_head));
END;
$$;
