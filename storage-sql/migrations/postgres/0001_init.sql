CREATE TABLE meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE tickets (
    id BYTEA PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    version BIGINT NOT NULL,
    queue TEXT NOT NULL,
    state_type BIGINT NOT NULL,
    archived BIGINT NOT NULL,
    urgency BIGINT NOT NULL,
    created BIGINT NOT NULL,
    locked BIGINT NOT NULL,
    owner TEXT,
    customer TEXT,
    company TEXT,
    lock_due BIGINT,
    pending_due BIGINT,
    escalation_due BIGINT,
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
    ticket BYTEA NOT NULL,
    position BIGINT NOT NULL,
    message_id TEXT UNIQUE,
    doc TEXT NOT NULL,
    PRIMARY KEY (ticket, position)
);
CREATE TABLE blobs (hash TEXT PRIMARY KEY, data BYTEA NOT NULL);
CREATE TABLE events (seq BIGINT PRIMARY KEY, ticket BYTEA NOT NULL, doc TEXT NOT NULL);
CREATE INDEX events_ticket ON events (ticket, seq);
CREATE TABLE customers (login TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
CREATE TABLE cursors (consumer TEXT PRIMARY KEY, position BIGINT NOT NULL);
INSERT INTO counters (name, value) VALUES ('event_seq', 0);
