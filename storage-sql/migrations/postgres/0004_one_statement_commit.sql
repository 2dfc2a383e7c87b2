-- The one-statement commit (src/pg.rs) checks its compare-and-swaps and quotas by counting
-- the rows its CTEs wrote; a shortfall must abort the whole statement, which plain SQL
-- cannot do, hence this function. SQLSTATE TC409 tells the store to take the careful path.
CREATE FUNCTION ticketcore_expect(matched BIGINT, expected BIGINT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
BEGIN
    IF matched <> expected THEN
        RAISE EXCEPTION 'ticketcore: % of % rows matched', matched, expected
            USING ERRCODE = 'TC409';
    END IF;
    RETURN matched;
END
$$;
