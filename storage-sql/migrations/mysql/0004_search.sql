-- Full-text search: each ticket's terms (from ticketcore's analyzer) in three parts, every
-- term stored with the prefix 'tt' so InnoDB's minimum token length and stopword list never
-- drop one. A customer's search matches (head, public), an agent's all three.
CREATE TABLE ticket_search (
    ticket BINARY(16) PRIMARY KEY,
    head LONGTEXT NOT NULL,
    public LONGTEXT NOT NULL,
    internal LONGTEXT NOT NULL,
    FULLTEXT KEY ticket_search_public (head, public),
    FULLTEXT KEY ticket_search_all (head, public, internal)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
