-- Full-text search: each ticket's terms (from ticketcore's analyzer) in three parts. The
-- 'simple' configuration keeps each term as it is; the head weighs most in the ranking. A
-- customer's search uses public_terms, an agent's all_terms.
CREATE TABLE ticket_search (
    ticket BYTEA PRIMARY KEY,
    head TEXT NOT NULL,
    public TEXT NOT NULL,
    internal TEXT NOT NULL,
    public_terms tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, head), 'A')
        || to_tsvector('simple'::regconfig, public)
    ) STORED,
    all_terms tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, head), 'A')
        || to_tsvector('simple'::regconfig, public)
        || to_tsvector('simple'::regconfig, internal)
    ) STORED
);
CREATE INDEX ticket_search_public ON ticket_search USING GIN (public_terms);
CREATE INDEX ticket_search_all ON ticket_search USING GIN (all_terms);
