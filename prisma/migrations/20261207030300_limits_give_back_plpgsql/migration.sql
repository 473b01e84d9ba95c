-- limits_give_back was a SQL function. On Citus the posting functions run on the worker that holds their
-- root, and every statement they run must be seen there to name that root; a SQL function's statement is
-- planned with its arguments left as parameters, so Citus cannot see it does and refuses it ("queries must
-- filter by the distribution argument", docs/citus.md). In PL/pgSQL the statement is planned with the root's
-- value. Called only by reversals, once each: the change of language costs nothing that shows.
CREATE OR REPLACE FUNCTION "limits_give_back"(p_root_ledger_id uuid, p_original_id uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE limit_usage u SET used = u.used - c.amount
      FROM limit_charges c
     WHERE c.root_ledger_id = p_root_ledger_id AND c.transaction_id = p_original_id
       AND u.root_ledger_id = p_root_ledger_id AND u.limit_id = c.limit_id AND u.account_id = c.account_id
       AND u.period_start = c.period_start;
END;
$$;
