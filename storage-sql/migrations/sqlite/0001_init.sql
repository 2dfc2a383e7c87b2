CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE tickets (
    id BLOB PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    queue TEXT NOT NULL,
    state_type INTEGER NOT NULL,
    archived INTEGER NOT NULL,
    urgency INTEGER NOT NULL,
    created INTEGER NOT NULL,
    locked INTEGER NOT NULL,
    owner TEXT,
    customer TEXT,
    company TEXT,
    lock_due INTEGER,
    pending_due INTEGER,
    escalation_due INTEGER,
    doc TEXT NOT NULL
);
CREATE INDEX tickets_view ON tickets (archived, queue, state_type, urgency, created, id);
CREATE INDEX tickets_customer ON tickets (customer, urgency, created, id);
CREATE INDEX tickets_company ON tickets (company, urgency, created, id);
CREATE INDEX tickets_lock_due ON tickets (lock_due, id);
CREATE INDEX tickets_pending_due ON tickets (pending_due, id);
CREATE INDEX tickets_escalation_due ON tickets (escalation_due, id);
CREATE TABLE ticket_queues (queue TEXT PRIMARY KEY);
CREATE TABLE articles (
    ticket BLOB NOT NULL,
    position INTEGER NOT NULL,
    message_id TEXT UNIQUE,
    doc TEXT NOT NULL,
    PRIMARY KEY (ticket, position)
);
CREATE TABLE blobs (hash TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE events (seq INTEGER PRIMARY KEY, ticket BLOB NOT NULL, doc TEXT NOT NULL);
CREATE INDEX events_ticket ON events (ticket, seq);
CREATE TABLE customers (login TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
CREATE TABLE cursors (consumer TEXT PRIMARY KEY, position INTEGER NOT NULL);
INSERT INTO counters (name, value) VALUES ('event_seq', 0);
