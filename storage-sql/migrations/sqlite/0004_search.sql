-- Full-text search: each ticket's terms (from ticketcore's analyzer) in three parts, indexed
-- by FTS5 as external content, kept in step by triggers.
CREATE TABLE ticket_search (
    id INTEGER PRIMARY KEY,
    ticket BLOB NOT NULL UNIQUE,
    head TEXT NOT NULL,
    public TEXT NOT NULL,
    internal TEXT NOT NULL
);
CREATE VIRTUAL TABLE ticket_fts USING fts5(
    head, public, internal,
    content = 'ticket_search', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER ticket_search_inserted AFTER INSERT ON ticket_search BEGIN
    INSERT INTO ticket_fts (rowid, head, public, internal)
    VALUES (new.id, new.head, new.public, new.internal);
END;
CREATE TRIGGER ticket_search_deleted AFTER DELETE ON ticket_search BEGIN
    INSERT INTO ticket_fts (ticket_fts, rowid, head, public, internal)
    VALUES ('delete', old.id, old.head, old.public, old.internal);
END;
CREATE TRIGGER ticket_search_updated AFTER UPDATE ON ticket_search BEGIN
    INSERT INTO ticket_fts (ticket_fts, rowid, head, public, internal)
    VALUES ('delete', old.id, old.head, old.public, old.internal);
    INSERT INTO ticket_fts (rowid, head, public, internal)
    VALUES (new.id, new.head, new.public, new.internal);
END;
