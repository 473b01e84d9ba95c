-- available_of and posted_of said `CASE normal_balance WHEN 'CREDIT' ...`. Inlined into the posting
-- function's balance UPDATE inside balance_debt's own CASE, that simple CASE is printed back to SQL wrongly
-- when Citus sends the statement to the shard (the inner CASE's subject becomes the outer one's test:
-- `"NormalBalance" = boolean`, docs/citus.md). The searched form `CASE WHEN normal_balance = 'CREDIT'`
-- means the same, prints back faithfully, and plans identically on plain Postgres.
CREATE OR REPLACE FUNCTION "available_of"(normal_balance "NormalBalance", debits_posted int8, credits_posted int8,
                                          debits_pending int8, credits_pending int8)
RETURNS int8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN normal_balance = 'CREDIT' THEN credits_posted - debits_posted - debits_pending
                ELSE debits_posted - credits_posted - credits_pending
           END
$$;

CREATE OR REPLACE FUNCTION "posted_of"(normal_balance "NormalBalance", debits_posted int8, credits_posted int8)
RETURNS int8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN normal_balance = 'CREDIT' THEN credits_posted - debits_posted ELSE debits_posted - credits_posted END
$$;
